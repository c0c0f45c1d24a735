"""`d76 history`: recent alerts as a table, CSV or JSON, or one alert's timeline (`--id N`), read
straight from the receiver's database.

It reads the database directly (not the HTTP API) so it works when the receiver is down, which is
exactly when an operator wants history. Which database: `--database-url`, DATABASE_URL, else the
stack `d76 stack up` started (`--state-dir`), else the receiver's default (`d76_cli.stack_client`).
Times: RFC 3339 or relative (`30m`, `6h`, `7d` ago). The filters are the API's (`GET /api/alerts`);
values outside the known sets (severity, source, status) are refused with the valid ones listed;
`--format csv|json` writes the same rows as `GET /api/alerts.csv` (`webhook_receiver.history.export`).
"""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from vocabulary import SEVERITIES, SOURCES

from .stack_client import database_url as _database_url
from .stack_client import state_dir_option

if TYPE_CHECKING:
    from webhook_receiver.store import AlertQuery, AlertStore

__all__ = ["command", "parse_when"]

_REL = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_when(value: str, now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
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

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        try:
            return parse_when(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _fmt(dt: datetime | None) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if dt else ""


@click.command(name="history")
@click.option("--since", type=_When(), default=None, help="start time (RFC 3339 or 30m/6h/7d ago)")
@click.option("--until", type=_When(), default=None)
@click.option("--severity", multiple=True, type=click.Choice(SEVERITIES), help="repeatable")
@click.option("--source", default=None, type=click.Choice(SOURCES))
@click.option("--alertname", default=None, help="exactly this alertname, e.g. ExchangeFrozen")
@click.option("--status", type=click.Choice(["firing", "resolved"]), default=None)
@click.option("--acknowledged", type=click.BOOL, default=None, help="true or false")
@click.option("--limit", type=click.IntRange(1, 10_000_000), default=None,
              help="at most this many alerts [table: 50; csv/json: 100000]")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="write csv/json to this file instead of standard output")
@click.option("--id", "alert_id", type=click.IntRange(1), default=None,
              help="one alert's timeline: fired, notified, acknowledged, silenced, suppressed, resolved")
@click.option("--database-url", default=None, help="overrides DATABASE_URL")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None)
@state_dir_option
def command(since: datetime | None, until: datetime | None, severity: tuple[str, ...], source: str | None,
            alertname: str | None, status: str | None, acknowledged: bool | None, limit: int | None, fmt: str,
            output: str | None, alert_id: int | None, database_url: str | None, config_file: str | None,
            state_dir: Path) -> None:
    """Print recent alerts, newest first (or export them, or one alert's timeline)."""
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
        if alert_id is not None:
            _timeline(store, alert_id, fmt, output)
            return
        query = AlertQuery(since=since, until=until, severities=tuple(severity), source=source, status=status,
                           acknowledged=acknowledged, alertname=alertname, limit=1)
        if fmt != "table":
            _export(store, query, limit or 100_000, fmt, output)
            return
        rows = store.list_alerts(replace(query, limit=min(limit or 50, 10_000)))
    except StorageUnavailable as exc:
        raise click.ClickException(f"{exc} (database from {db.origin})") from None
    finally:
        store.close()
    _table(rows)


def _write(text: str, output: str | None) -> None:
    if output:
        with open(output, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    else:
        click.echo(text, nl=False)


def _export(store: AlertStore, query: AlertQuery, limit: int, fmt: str, output: str | None) -> None:
    from webhook_receiver.history.export import iter_alerts, to_csv, to_json

    rows = [r for page in iter_alerts(store, query, limit) for r in page]
    _write(to_csv(rows) if fmt == "csv" else to_json(rows), output)


def _timeline(store: AlertStore, alert_id: int, fmt: str, output: str | None) -> None:
    import json

    from webhook_receiver.history.export import iso
    from webhook_receiver.history.timeline import build_timeline, render_text

    t = build_timeline(store, alert_id)
    if t is None:
        raise click.ClickException(f"alert {alert_id} not found")
    if fmt == "json":
        def conv(v: Any) -> Any:
            return iso(v) if isinstance(v, datetime) else v
        body = {"alert": {k: conv(v) for k, v in t["alert"].items()},
                "events": [{k: conv(v) for k, v in e.items()} for e in t["events"]], "durations": t["durations"]}
        _write(json.dumps(body, ensure_ascii=False, indent=1) + "\n", output)
    elif fmt == "csv":
        raise click.ClickException("--id prints a timeline as text or json, not csv")
    else:
        _write(render_text(t), output)


def _table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} alert(s), newest first")
    for col in ("id", "started (UTC)", "sev", "source", "alertname", "status", "ended (UTC)", "ack", "title"):
        table.add_column(col, overflow="fold")
    for r in rows:
        ack = f"{r['acknowledged_by']}" if r["acknowledged"] else ""
        status = r["status"] + (" (reconciled)" if r.get("reconciled_at") else "")
        table.add_row(str(r["id"]), _fmt(r["starts_at"]), r["severity"], r["source"], r["alertname"], status,
                      _fmt(r["ends_at"]), ack, r["title"])
    Console(width=200).print(table)
