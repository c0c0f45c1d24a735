"""`d76 unack ID [--as NAME] [-m TEXT]`: give an acknowledged alert back, through the receiver's API.

The same path as the Unack button and `/unack` in Telegram (`POST /api/alerts/<id>/unack`): nobody
owns the alert any more, its reminders and escalation chain start again (while it fires), the event
is in its timeline and its messages are edited. Which receiver: as `d76 ack` (`d76_cli.stack_client`).
"""
from __future__ import annotations

from pathlib import Path

import click

from .ack import alert_action_options, post_alert_action

__all__ = ["command"]


@click.command(name="unack")
@alert_action_options(by_help="who gives it back [default: USER@cli]",
                      comment_help="why (handing over, wrong person, ...)")
def command(alert_id: int, by: str | None, comment: str | None, receiver_url: str | None, token: str | None,
            state_dir: Path) -> None:
    """Unacknowledge alert ID: nobody owns it; reminders and escalation start again."""
    data, what = post_alert_action("unack", alert_id, by, comment, receiver_url, token, state_dir)
    alert = data["alert"]
    if data.get("changed"):
        again = "" if alert.get("status") == "resolved" else "; reminders and escalation start again"
        click.echo(f"unacknowledged {what}: nobody owns it now{again}")
    else:
        click.echo(f"{what} is not acknowledged: nothing to give back")
