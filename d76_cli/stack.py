"""`d76 stack up|status|down|logs`: the whole pipeline on loopback without Docker."""
from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click

from local_stack import defaults

__all__ = ["command"]

_state_opt = click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
                          default=Path(".d76/stack"), show_default=True,
                          help="Rendered configs, data, logs and pids live here.")


@click.group(name="stack")
def command() -> None:
    """Start, inspect and stop the local stack (simulator, Prometheus, Alertmanager, receiver)."""


@command.command("up")
@_state_opt
@click.option("--exporter-port", type=int, default=defaults.EXPORTER_PORT, show_default=True)
@click.option("--prometheus-port", type=int, default=defaults.PROMETHEUS_PORT, show_default=True)
@click.option("--alertmanager-port", type=int, default=defaults.ALERTMANAGER_PORT, show_default=True)
@click.option("--receiver-port", type=int, default=defaults.RECEIVER_PORT, show_default=True)
@click.option("--postgres-port", type=int, default=defaults.POSTGRES_PORT, show_default=True)
@click.option("--config", "catalog_override", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Catalog override file (thresholds, for, severities, policy).")
@click.option("--database-url", envvar="DATABASE_URL", default=None,
              help="Receiver storage (default: an SQLite file in the state folder).")
@click.option("--postgres", is_flag=True, help="Start a throwaway PostgreSQL 15 cluster for the receiver.")
@click.option("--scenario", default="calm", show_default=True, help="The simulator's first scenario.")
@click.option("--foreground", is_flag=True, help="Stay attached; Ctrl-C stops everything.")
def up(state_dir: Path, exporter_port: int, prometheus_port: int, alertmanager_port: int, receiver_port: int,
       postgres_port: int, catalog_override: Path | None, database_url: str | None, postgres: bool,
       scenario: str, foreground: bool) -> None:
    """Start every piece, each with a readiness wait; print where to look."""
    from local_stack.runner import Stack, StackConfig, StartupError
    from exporter.catalog import CatalogError

    cfg = StackConfig(state_dir=state_dir, exporter_port=exporter_port, prometheus_port=prometheus_port,
                      alertmanager_port=alertmanager_port, receiver_port=receiver_port,
                      postgres_port=postgres_port, catalog_override=catalog_override,
                      database_url=None if postgres else database_url, postgres=postgres, scenario=scenario)
    stack = Stack(cfg)
    try:
        stack.up()
    except (StartupError, CatalogError) as exc:
        click.echo(f"stack up failed: {exc}", err=True)
        sys.exit(1)
    for line in stack.iter_status_lines():
        click.echo(line)
    click.echo(f"logs: {stack.logs}")
    if not foreground:
        click.echo("stop with: d76 stack down" + ("" if state_dir == Path(".d76/stack") else f" --state-dir {state_dir}"))
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    click.echo("running in the foreground; Ctrl-C stops the stack")
    stop.wait()
    click.echo("stopped: " + ", ".join(stack.down()))


@command.command("status")
@_state_opt
def status(state_dir: Path) -> None:
    """Each piece with its URL and health; exit 1 when something is down."""
    from local_stack.runner import Stack, StackConfig

    stack = Stack(StackConfig(state_dir=state_dir))
    st = stack.status()
    if not st:
        click.echo(f"no stack recorded in {state_dir}")
        sys.exit(1)
    for line in stack.iter_status_lines():
        click.echo(line)
    sys.exit(0 if all(s.healthy for s in st) else 1)


@command.command("down")
@_state_opt
def down(state_dir: Path) -> None:
    """Stop every piece started by `d76 stack up`."""
    from local_stack.runner import Stack, StackConfig

    stopped = Stack(StackConfig(state_dir=state_dir)).down()
    click.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@command.command("logs")
@_state_opt
@click.argument("piece", type=click.Choice(["exporter", "receiver", "alertmanager", "prometheus"]))
@click.option("-n", "--lines", type=int, default=40, show_default=True)
def logs(state_dir: Path, piece: str, lines: int) -> None:
    """Print the last lines of a piece's log."""
    path = state_dir / "logs" / f"{piece}.log"
    if not path.exists():
        click.echo(f"no log at {path}", err=True)
        sys.exit(1)
    click.echo("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
