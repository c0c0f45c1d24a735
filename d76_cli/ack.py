"""`d76 ack ID [--as NAME] [-m TEXT]`: acknowledge an alert through the receiver's API.

The same path as the Ack button and `/ack` in Telegram (`POST /api/alerts/<id>/ack`): the history
records who and when, the alert is theirs until it resolves (its reminders and escalation stop), and
the messages that told it are edited. On an alert someone already acknowledged, `-m` adds a comment
(kept in its timeline, shown by its messages). Which receiver: the stack
`d76 stack up` started (`--state-dir`, with its token), else `--receiver-url` with `--token` or
RECEIVER_TOKEN (`d76_cli.stack_client`).
"""
from __future__ import annotations

from pathlib import Path

import click

from vocabulary import IDENTIFYING_LABELS

from .stack_client import api_error, default_actor, receiver, receiver_request, state_dir_option

__all__ = ["command"]


def _where(labels: dict[str, str]) -> str:
    return " ".join(f"{k}={labels[k]}" for k in IDENTIFYING_LABELS if labels.get(k))


@click.command(name="ack")
@click.argument("alert_id", type=click.IntRange(1, 2**63 - 1))
@click.option("--as", "--by", "by", default=None, help="who acknowledges [default: USER@cli]")
@click.option("--comment", "-m", default=None, help="what you are doing about it")
@click.option("--receiver-url", default=None, help="the receiver's base URL [default: the stack in --state-dir]")
@click.option("--token", default=None, help="bearer token [default: the stack's; with --receiver-url, RECEIVER_TOKEN]")
@state_dir_option
def command(alert_id: int, by: str | None, comment: str | None, receiver_url: str | None, token: str | None,
            state_dir: Path) -> None:
    """Acknowledge alert ID (its number in `d76 history` and in the messages)."""
    target = receiver(receiver_url, token, state_dir)
    body = {"by": by or default_actor(), **({"comment": comment} if comment else {})}
    resp = receiver_request(target, "POST", f"/api/alerts/{alert_id}/ack", json=body)
    if resp.status_code == 404:
        raise click.ClickException(f"no alert #{alert_id} in the history (receiver from {target.origin})")
    if resp.status_code != 200:
        raise api_error(resp, target)
    data = resp.json()
    alert = data["alert"]
    what = f"#{alert['id']} {alert['alertname']} {_where(alert.get('labels') or {})}".rstrip()
    if data.get("changed"):
        click.echo(f"acknowledged {what} as {alert['acknowledged_by']}"
                   + (f": {alert['ack_comment']}" if alert.get("ack_comment") else ""))
    elif data.get("comment_added"):
        click.echo(f"comment added to {what} (acknowledged by {alert['acknowledged_by']}): {alert['last_comment']}")
    else:
        click.echo(f"{what} was already acknowledged by {alert['acknowledged_by']} at {alert['acknowledged_at']}")
