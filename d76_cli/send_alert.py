"""`d76 send-alert`: post a one-off event to Alertmanager, like the bot's `send_alert(...)`.

Which Alertmanager: `--alertmanager-url` / ALERTMANAGER_URL, else the stack `d76 stack up` started
(`--state-dir`), else `vocabulary.DEFAULT_ALERTMANAGER_URL`. Alerts are not gossiped between clustered Alertmanagers, so
with several (an HA stack, or a comma-separated URL list) the event goes to each, as Prometheus does;
their shared notification log tells it once.

It prints the event's identity: its alertname (the title in CamelCase) and labels, and when it ends
unless sent again. When the receiver is known (a running stack, or `--receiver-url`) it waits up to
`--wait` seconds for the event to reach the history (Alertmanager holds a group for its severity's
`group_wait` first: 0 s for P0) and prints its history id and page.
"""
from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

import click

from vocabulary import DEFAULT_ALERTMANAGER_URL, SEVERITIES, SOURCES

from .output import tz_option, when
from .stack_client import Endpoint, alertmanager, load_stack, receiver, state_dir_option

__all__ = ["command"]


def _ttl(value: str) -> timedelta:
    from catalog import CatalogError, parse_duration

    try:
        seconds = parse_duration(value, "--ttl")
    except CatalogError as exc:
        raise click.BadParameter(str(exc)) from None
    if seconds <= 0:
        raise click.BadParameter("must be positive")
    return timedelta(seconds=seconds)


@click.command(name="send-alert")
@click.option("--severity", required=True, type=click.Choice(SEVERITIES))
@click.option("--source", required=True, type=click.Choice(SOURCES))
@click.option("--title", required=True)
@click.option("--message", required=True)
@click.option("--meta", multiple=True, metavar="KEY=VALUE",
              help="exchange/route/symbol/tier/scope become labels; anything else an annotation")
@click.option("--alertmanager-url", envvar="ALERTMANAGER_URL", default=None,
              help=f"[default: the stack in --state-dir, else {DEFAULT_ALERTMANAGER_URL}]; comma-separated: several")
@state_dir_option
@click.option("--ttl", default="15m", show_default=True, help="the event resolves itself after this long")
@click.option("--runbook-url", default=None)
@click.option("--receiver-url", default=None, help="the receiver whose history id to print [default: the stack in "
              "--state-dir, if one runs]")
@click.option("--wait", "wait_s", type=click.FloatRange(0, 600), default=5.0, show_default=True,
              help="seconds to wait for the event in the receiver's history (0: do not look)")
@tz_option
def command(severity: str, source: str, title: str, message: str, meta: tuple[str, ...], alertmanager_url: str | None,
            state_dir: Path, ttl: str, runbook_url: str | None, receiver_url: str | None, wait_s: float,
            tz: tzinfo) -> None:
    """Send one event through Alertmanager (same routing, grouping and inhibition as the rules)."""
    from exporter.events import AlertClient, EventError, build_alert

    metadata: dict[str, str] = {}
    for item in meta:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--meta")
        metadata[key] = value
    expires = _ttl(ttl)
    try:
        event = build_alert(severity, source, title, message, metadata, ttl=expires, runbook_url=runbook_url)
    except EventError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    sent_at = datetime.now(UTC)
    target = alertmanager(alertmanager_url, state_dir)
    sent, failed = [], []
    for url in target.urls:
        client = AlertClient(url, strict=True)
        try:
            client.send(severity, source, title, message, metadata, ttl=expires, runbook_url=runbook_url)
            sent.append(url)
        except EventError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except Exception as exc:  # connection refused, timeout: say where, not a traceback
            failed.append(f"{url}: {type(exc).__name__}")
        finally:
            client.close()
    for line in failed:
        click.echo(f"{'warning' if sent else 'error'}: could not reach Alertmanager at {line} "
                   f"(from {target.origin})", err=True)
    if not sent:
        sys.exit(1)
    labels = event["labels"]
    click.echo(f"sent {severity} event to {', '.join(sent)}")
    click.echo(f"  alertname={labels['alertname']} "
               + " ".join(f"{k}={v}" for k, v in labels.items() if k != "alertname"))
    click.echo(f"  ends {when(sent_at + expires, tz)} unless sent again")
    rcv = _receiver(receiver_url, state_dir)
    if rcv is not None and wait_s > 0:
        click.echo("  " + _history_id(rcv, labels, sent_at, wait_s))


def _receiver(explicit: str | None, state_dir: Path) -> Endpoint | None:
    """The receiver to look the event up in: the one given, else a running stack's; None otherwise."""
    if explicit:
        return receiver(explicit, None, state_dir)
    if load_stack(state_dir).running:
        return receiver(None, None, state_dir)
    return None


def _history_id(rcv: Endpoint, labels: dict[str, str], sent_at: datetime, wait_s: float) -> str:
    """The event's history id and page once the receiver has stored it, or why not (yet)."""
    import requests

    since = (sent_at - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    params = {"alertname": labels["alertname"], "since": since, "status": "firing", "limit": "50"}
    headers = {"Authorization": f"Bearer {rcv.token}"} if rcv.token else {}
    deadline = time.monotonic() + wait_s
    while True:
        try:
            r = requests.get(rcv.url + "/api/alerts", params=params, headers=headers, timeout=5)
            rows = r.json().get("alerts", []) if r.status_code == 200 else None
        except (requests.RequestException, ValueError):
            rows = None
        if rows is None:
            return f"(the receiver at {rcv.url} did not answer; from {rcv.origin})"
        hit = next((a for a in rows if all((a.get("labels") or {}).get(k) == v for k, v in labels.items())), None)
        if hit is not None:
            return f"history #{hit['id']}: {rcv.url}/alerts/{hit['id']}"
        if time.monotonic() >= deadline:
            return (f"not in the receiver's history after {wait_s:g} s (Alertmanager waits group_wait before "
                    f"it sends a group): d76 history --alertname {labels['alertname']}")
        time.sleep(0.25)
