"""`d76 send-alert`: post a one-off event to Alertmanager, like the bot's `send_alert(...)`."""
from __future__ import annotations

import sys
from datetime import timedelta

import click

__all__ = ["command"]


def _ttl(value: str) -> timedelta:
    from exporter.catalog import CatalogError, parse_duration

    try:
        seconds = parse_duration(value, "--ttl")
    except CatalogError as exc:
        raise click.BadParameter(str(exc)) from None
    if seconds <= 0:
        raise click.BadParameter("must be positive")
    return timedelta(seconds=seconds)


@click.command(name="send-alert")
@click.option("--severity", required=True, type=click.Choice(["P0", "P1", "P2", "P3"]))
@click.option("--source", required=True, type=click.Choice(
    ["rate_limiter", "exchange_health", "arb_route", "arb_universe", "cross_sync", "risk_guard", "system"]))
@click.option("--title", required=True)
@click.option("--message", required=True)
@click.option("--meta", multiple=True, metavar="KEY=VALUE",
              help="exchange/route/symbol/tier/scope become labels; anything else an annotation")
@click.option("--alertmanager-url", envvar="ALERTMANAGER_URL", default="http://127.0.0.1:9093", show_default=True)
@click.option("--ttl", default="15m", show_default=True, help="the event resolves itself after this long")
@click.option("--runbook-url", default=None)
def command(severity: str, source: str, title: str, message: str, meta: tuple[str, ...], alertmanager_url: str,
            ttl: str, runbook_url: str | None) -> None:
    """Send one event through Alertmanager (same routing, grouping and inhibition as the rules)."""
    from exporter.events import AlertClient, EventError

    metadata: dict[str, str] = {}
    for item in meta:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--meta")
        metadata[key] = value
    client = AlertClient(alertmanager_url, strict=True)
    try:
        client.send(severity, source, title, message, metadata, ttl=_ttl(ttl), runbook_url=runbook_url)
    except EventError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # connection refused, timeout: say where, not a traceback
        click.echo(f"error: could not reach Alertmanager at {alertmanager_url}: {type(exc).__name__}", err=True)
        sys.exit(1)
    finally:
        client.close()
    click.echo(f"sent {severity} event to {alertmanager_url}")
