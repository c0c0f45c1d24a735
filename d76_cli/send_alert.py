"""`d76 send-alert`: post a one-off event to Alertmanager, like the bot's `send_alert(...)`.

Which Alertmanager: `--alertmanager-url` / ALERTMANAGER_URL, else the stack `d76 stack up` started
(`--state-dir`), else `vocabulary.DEFAULT_ALERTMANAGER_URL`. Alerts are not gossiped between clustered Alertmanagers, so
with several (an HA stack, or a comma-separated URL list) the event goes to each, as Prometheus does;
their shared notification log tells it once.
"""
from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import click

from vocabulary import DEFAULT_ALERTMANAGER_URL, SEVERITIES, SOURCES

from .stack_client import alertmanager, state_dir_option

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
def command(severity: str, source: str, title: str, message: str, meta: tuple[str, ...], alertmanager_url: str | None,
            state_dir: Path, ttl: str, runbook_url: str | None) -> None:
    """Send one event through Alertmanager (same routing, grouping and inhibition as the rules)."""
    from exporter.events import AlertClient, EventError

    metadata: dict[str, str] = {}
    for item in meta:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--meta")
        metadata[key] = value
    expires = _ttl(ttl)
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
    click.echo(f"sent {severity} event to {', '.join(sent)}")
