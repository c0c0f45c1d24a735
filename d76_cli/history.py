"""`d76 history`: recent alerts as a table, CSV or JSON, or one alert's timeline (`--id N`), read
straight from the receiver's database.

It reads the database directly (not the HTTP API) so it works when the receiver is down, which is
exactly when an operator wants history. Which database: `--database-url`, DATABASE_URL, else the
stack `d76 stack up` started (`--state-dir`), else the receiver's default (`d76_cli.stack_client`).
Times: RFC 3339 or relative (`30m`, `6h`, `7d` ago). The filters are the API's (`GET /api/alerts`);
values outside the known sets (severity, source, status) are refused with the valid ones listed;
`--format csv|json` writes the same rows as `GET /api/alerts.csv` (`webhook_receiver.history.export`).

The table fits the terminal (rich's own width; `started` and `ended` columns from 120 columns on)
with the alert's age, where it is (exchange / route / symbol ...) and its state now, the same answer
as the pages (`webhook_receiver.history.alert_state`: firing, silenced, muted, inhibited, acked,
resolved). Watchdog, the always-firing heartbeat, is left out of the table unless asked for by name.
Times: UTC, or `--tz` / D76_TZ.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from vocabulary import SEVERITIES, SOURCES, WATCHDOG

from .output import console, tz_option, when
from .stack_client import database_url as _database_url
from .stack_client import state_dir_option

if TYPE_CHECKING:
    from webhook_receiver.history.alert_state import AlertState
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
@tz_option
@state_dir_option
def command(since: datetime | None, until: datetime | None, severity: tuple[str, ...], source: str | None,
            alertname: str | None, status: str | None, acknowledged: bool | None, limit: int | None, fmt: str,
            output: str | None, alert_id: int | None, database_url: str | None, config_file: str | None,
            tz: tzinfo, state_dir: Path) -> None:
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
            _timeline(store, alert_id, fmt, output, tz)
            return
        query = AlertQuery(since=since, until=until, severities=tuple(severity), source=source, status=status,
                           acknowledged=acknowledged, alertname=alertname, limit=1)
        if fmt != "table":
            _export(store, query, limit or 100_000, fmt, output)
            return
        from webhook_receiver.history.alert_state import alert_states

        rows = store.list_alerts(replace(query, limit=min(limit or 50, 10_000)))
        hidden = sum(1 for r in rows if r["alertname"] == WATCHDOG) if alertname != WATCHDOG else 0
        rows = [r for r in rows if alertname == WATCHDOG or r["alertname"] != WATCHDOG]
        states = alert_states(store, rows)
    except StorageUnavailable as exc:
        raise click.ClickException(f"{exc} (database from {db.origin})") from None
    finally:
        store.close()
    out = console()
    out.print(history_table(rows, states, tz, out.width, hidden_watchdog=hidden))


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


def _timeline(store: AlertStore, alert_id: int, fmt: str, output: str | None, tz: tzinfo) -> None:
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
        _write(render_text(t, tz), output)


_SEVERITY_STYLE = {"P0": "bold red", "P1": "bold dark_orange", "P2": "yellow", "P3": "blue"}


def where_text(labels: dict[str, Any]) -> str:
    """Where an alert is, as the pages say it: its identifying labels (`exchange=upbit`), else its
    other telling labels, else its instance."""
    from webhook_receiver.history.alert_state import where

    return " ".join(f"{k}={v}" for k, v in where(labels))


def history_table(rows: list[dict[str, Any]], states: Mapping[int, AlertState], tz: tzinfo | None, width: int, *,
                  hidden_watchdog: int = 0) -> Any:
    """The table `d76 history` prints, for a terminal `width` columns wide: id, age, the alert
    (severity, name and summary), where, its state; the start and end times from 120 columns on."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from webhook_receiver.timefmt import age_seconds, fmt_age

    wide, narrow = width >= 120, width < 72  # a phone's SSH terminal: where goes under the alert
    note = f"; Watchdog hidden (--alertname {WATCHDOG})" if hidden_watchdog else ""
    table = Table(title=f"{len(rows)} alert(s), newest first{note}", box=box.SIMPLE_HEAD, pad_edge=False,
                  expand=False, title_justify="left")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("age", no_wrap=True)
    wheres = {int(r["id"]): where_text(r.get("labels") or {}) for r in rows}
    table.add_column("alert", overflow="fold", min_width=14)  # the one column that wraps
    if not narrow:  # one label=value a line, each whole
        table.add_column("where", no_wrap=True)
    table.add_column("state", no_wrap=True, min_width=9)
    if wide:
        table.add_column("started", no_wrap=True)
        table.add_column("ended", no_wrap=True)
    for r in rows:
        ended = r["ends_at"] if r["status"] == "resolved" else None
        st = states.get(int(r["id"]))
        state = Text(st.name if st else r["status"])
        who = st.suppressions[0].by if st and st.suppressions else None
        if who:
            state.append(f"\nby {who}", style="dim")
        if r["acknowledged"] and r.get("acknowledged_by"):
            state.append(f"\n{'by' if state.plain == 'acked' else 'acked by'} {r['acknowledged_by']}", style="dim")
        alert = Text(f"{r['severity'] or '-'} ", style=_SEVERITY_STYLE.get(r["severity"], "dim"))
        alert.append(r["alertname"], style="bold")
        if r.get("title") and r["title"] != r["alertname"]:
            alert.append("\n" + r["title"])
        if narrow and wheres[int(r["id"])]:
            alert.append("\n" + wheres[int(r["id"])], style="dim")
        cells: list[str | Text] = [str(r["id"]), fmt_age(age_seconds(r["starts_at"], ended)), alert,
                 *([] if narrow else [wheres[int(r["id"])].replace(" ", "\n")]), state]
        if wide:
            cells += [when(r["starts_at"], tz), when(ended, tz)]
        table.add_row(*cells)
    return table
