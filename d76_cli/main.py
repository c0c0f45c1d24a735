"""`d76` entry point.

Each subcommand lives in its own module of this package and exposes a click command (or group)
named ``command``. They are imported lazily so that ``d76 simulate`` does not pay for Flask or
psycopg, and a broken optional piece cannot take the whole CLI down.
"""
from __future__ import annotations

import importlib
import importlib.util

import click

# subcommand name -> module in d76_cli that defines `command`
SUBCOMMANDS: dict[str, str] = {
    "simulate": "d76_cli.simulate",
    "generate": "d76_cli.generate",
    "send-alert": "d76_cli.send_alert",
    "receiver": "d76_cli.receiver",
    "db": "d76_cli.db",
    "history": "d76_cli.history",
    "digest": "d76_cli.digest",
    "ack": "d76_cli.ack",
    "oncall": "d76_cli.oncall",
    "unack": "d76_cli.unack",
    "silence": "d76_cli.silence",
    "stack": "d76_cli.stack",
    "demo": "d76_cli.demo",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, mod in SUBCOMMANDS.items() if _module_exists(mod))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        mod_name = SUBCOMMANDS.get(cmd_name)
        if mod_name is None or not _module_exists(mod_name):
            return None
        module = importlib.import_module(mod_name)
        return module.command


def _module_exists(mod_name: str) -> bool:
    return importlib.util.find_spec(mod_name) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """D76 alerting: exporter, generated rules and routes, webhook receiver, local stack."""


if __name__ == "__main__":  # pragma: no cover
    cli()
