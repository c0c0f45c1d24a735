"""`d76 unack ID [--as NAME] [-m TEXT]`: give an acknowledged alert back, through the receiver's API.

The same path as the Unack button and `/unack` in Telegram (`POST /api/alerts/<id>/unack`): nobody
owns the alert any more, its reminders and escalation chain start again (while it fires), the event
is in its timeline and its messages are edited. Which receiver: as `d76 ack` (`d76_cli.stack_client`).
"""
from __future__ import annotations

from pathlib import Path

import click

from .ack import _where
from .stack_client import api_error, default_actor, receiver, receiver_request, state_dir_option

__all__ = ["command"]


@click.command(name="unack")
@click.argument("alert_id", type=click.IntRange(1, 2**63 - 1))
@click.option("--as", "--by", "by", default=None, help="who gives it back [default: USER@cli]")
@click.option("--comment", "-m", default=None, help="why (handing over, wrong person, ...)")
@click.option("--receiver-url", default=None, help="the receiver's base URL [default: the stack in --state-dir]")
@click.option("--token", default=None, help="bearer token [default: the stack's; with --receiver-url, RECEIVER_TOKEN]")
@state_dir_option
def command(alert_id: int, by: str | None, comment: str | None, receiver_url: str | None, token: str | None,
            state_dir: Path) -> None:
    """Unacknowledge alert ID: nobody owns it; reminders and escalation start again."""
    target = receiver(receiver_url, token, state_dir)
    body = {"by": by or default_actor(), **({"comment": comment} if comment else {})}
    resp = receiver_request(target, "POST", f"/api/alerts/{alert_id}/unack", json=body)
    if resp.status_code == 404:
        raise click.ClickException(f"no alert #{alert_id} in the history (receiver from {target.origin})")
    if resp.status_code != 200:
        raise api_error(resp, target)
    data = resp.json()
    alert = data["alert"]
    what = f"#{alert['id']} {alert['alertname']} {_where(alert.get('labels') or {})}".rstrip()
    if data.get("changed"):
        again = "" if alert.get("status") == "resolved" else "; reminders and escalation start again"
        click.echo(f"unacknowledged {what}: nobody owns it now{again}")
    else:
        click.echo(f"{what} is not acknowledged: nothing to give back")
