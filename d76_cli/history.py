"""`d76 history`: recent alerts as a table, read straight from the receiver's database.

It reads the database directly (not the HTTP API) so it works when the receiver is down, which is
exactly when an operator wants history. Which database: `--database-url`, DATABASE_URL, else the
stack `d76 stack up` started (`--state-dir`), else the receiver's default (`d76_cli.stack_client`).
Times: RFC 3339 or relative (`30m`, `6h`, `7d` ago). Filter values outside the known sets
(severity, source, status) are refused with the valid ones listed.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import click

from exporter.catalog.model import SOURCES

from .stack_client import database_url as _database_url
from .stack_client import state_dir_option

__all__ = ["command", "parse_when"]

_REL = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_when(value: str, now: datetime | None = None) -> datetime:
    now = now or datetime.now(timezone.utc)
    m = _REL.match(value.strip())
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    from webhook_receiver.errors import PayloadError
    from webhook_receiver.payload import parse_time

    try:
        return parse_time(value, "time")
    except PayloadError:
        raise ValueError("expected RFC 3339 (2026-11-23T01:00:00Z) or relative (30m, 6h, 7d)") from None


class _When(click.ParamType):
    name = "TIME"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        try:
            return parse_when(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _fmt(dt: datetime | None) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if dt else ""


@click.command(name="history")
@click.option("--since", type=_When(), default=None, help="start time (RFC 3339 or 30m/6h/7d ago)")
@click.option("--until", type=_When(), default=None)
@click.option("--severity", multiple=True, type=click.Choice(["P0", "P1", "P2", "P3"]), help="repeatable")
@click.option("--source", default=None, type=click.Choice(SOURCES))
@click.option("--alertname", default=None, help="exactly this alertname, e.g. ExchangeFrozen")
@click.option("--status", type=click.Choice(["firing", "resolved"]), default=None)
@click.option("--acknowledged", type=click.BOOL, default=None, help="true or false")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--database-url", default=None, help="overrides DATABASE_URL")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None)
@state_dir_option
def command(since, until, severity, source, alertname, status, acknowledged, limit,  # type: ignore[no-untyped-def]
            database_url, config_file, state_dir) -> None:
    """Print recent alerts, newest first."""
    from rich.console import Console
    from rich.table import Table

    from webhook_receiver.errors import StorageUnavailable
    from webhook_receiver.settings import SettingsError, load_settings
    from webhook_receiver.store import AlertQuery, open_store

    try:
        settings = load_settings(config_file=config_file)
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    db = _database_url(database_url, settings, state_dir)
    store = open_store(db.url, settings)
    try:
        if store.pending_versions():
            raise click.ClickException("the database schema is not up to date; run `d76 db upgrade`")
        rows = store.list_alerts(AlertQuery(since=since, until=until, severities=tuple(severity), source=source,
                                            status=status, acknowledged=acknowledged, alertname=alertname,
                                            limit=limit))
    except StorageUnavailable as exc:
        raise click.ClickException(f"{exc} (database from {db.origin})") from None
    finally:
        store.close()

    table = Table(title=f"{len(rows)} alert(s), newest first")
    for col in ("id", "started (UTC)", "sev", "source", "alertname", "status", "ended (UTC)", "ack", "title"):
        table.add_column(col, overflow="fold")
    for r in rows:
        ack = f"{r['acknowledged_by']}" if r["acknowledged"] else ""
        table.add_row(str(r["id"]), _fmt(r["starts_at"]), r["severity"], r["source"], r["alertname"], r["status"],
                      _fmt(r["ends_at"]), ack, r["title"])
    Console(width=200).print(table)
