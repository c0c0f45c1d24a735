"""`d76 db upgrade|current|prune`: schema migrations and retention of the receiver's store (DATABASE_URL)."""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from .output import when

if TYPE_CHECKING:
    from webhook_receiver.store import AlertStore

__all__ = ["command"]


@contextmanager
def _opened(database_url: str | None, config_file: str | None) -> Iterator[tuple[AlertStore, str]]:
    """The store and its URL as shown (password hidden); closed at the end, its outages as command errors."""
    from webhook_receiver.errors import StorageUnavailable
    from webhook_receiver.settings import SettingsError, load_settings, redact_url
    from webhook_receiver.store import open_store

    try:
        settings = load_settings(config_file=config_file)
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    url = database_url or settings.database_url
    store = open_store(url, settings)
    try:
        yield store, redact_url(url)
    except StorageUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


_url_opt = click.option("--database-url", default=None, help="overrides DATABASE_URL")
_cfg_opt = click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None)


@click.group(name="db")
def command() -> None:
    """Receiver database: apply migrations, show the schema version, prune old history."""


def _store_command(f: Callable[..., None]) -> click.Command:
    """A `d76 db` subcommand on the store given by --database-url / --config."""
    return command.command()(_url_opt(_cfg_opt(f)))


@_store_command
def upgrade(database_url: str | None, config_file: str | None) -> None:
    """Apply every pending migration."""
    with _opened(database_url, config_file) as (store, shown):
        applied = store.migrate()
        click.echo(f"{shown}: applied {applied or 'nothing'}; now at version {store.current_version()}")


@_store_command
def current(database_url: str | None, config_file: str | None) -> None:
    """Print the applied schema version and any pending migrations."""
    with _opened(database_url, config_file) as (store, shown):
        version, pending = store.current_version(), store.pending_versions()
        click.echo(f"{shown}: version {version}" + (f" (pending: {pending})" if pending else " (up to date)"))


_AGE = re.compile(r"^(\d+(?:\.\d+)?)([mhdw])$")
_AGE_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class _Age(click.ParamType):
    name = "AGE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        m = _AGE.match(str(value).strip())
        if not m or float(m.group(1)) <= 0:
            self.fail("expected an age like 30d, 12h, 90m or 2w", param, ctx)
        return float(m.group(1)) * _AGE_UNITS[m.group(2)] / 86400  # days


@command.command()
@click.option("--older-than", "older_than", type=_Age(), default=None,
              help="history older than this (e.g. 30d) [default: HISTORY_RETENTION_DAYS, 90d]")
@click.option("--payloads-older-than", "payloads_older_than", type=_Age(), default=None,
              help="raw webhook payloads older than this [default: PAYLOAD_RETENTION_DAYS, 14d, "
                   "or --older-than when shorter]")
@click.option("--dry-run", is_flag=True, help="count what would be deleted; delete nothing")
@click.option("--batch", type=click.IntRange(1, 100_000), default=None, help="rows per transaction [1000]")
@_url_opt
@_cfg_opt
def prune(older_than: float | None, payloads_older_than: float | None, dry_run: bool, batch: int | None,
          database_url: str | None, config_file: str | None) -> None:
    """Delete resolved alerts (with their notifications, messages and suppressed episodes) and raw
    payloads older than the retention, in small batches. Alerts still firing and notifications still
    waiting for delivery are kept, however old."""
    from webhook_receiver.history.retention import Pruner
    from webhook_receiver.history.settings import load_history_settings
    from webhook_receiver.settings import SettingsError, load_settings

    try:
        hs = load_history_settings(load_settings(config_file=config_file))
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    days = older_than if older_than is not None else hs.retention_days
    payload_days = payloads_older_than if payloads_older_than is not None else min(hs.payload_retention_days, days)
    with _opened(database_url, config_file) as (store, shown):
        if store.pending_versions():
            raise click.ClickException("the database schema is not up to date; run `d76 db upgrade`")
        pruner = Pruner(store, batch=batch or hs.prune_batch, pause_seconds=hs.prune_pause_seconds)
        cut = Pruner.cutoffs(days, payload_days)
        t0 = time.monotonic()
        counts = pruner.dry_run(cut) if dry_run else pruner.run(cut)
        took = time.monotonic() - t0
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{shown}: history before {when(cut.history)}, payloads before {when(cut.payloads)}")
    for table, n in counts.rows.items():
        click.echo(f"  {table:<20} {verb} {n}")
    click.echo(f"  total {counts.total} rows" + ("" if dry_run else f" in {took:.1f}s"))
