"""`d76 ack ID [--as NAME] [-m TEXT]`: acknowledge an alert through the receiver's API.

The same path as the Ack button and `/ack` in Telegram (`POST /api/alerts/<id>/ack`): the history
records who and when, the alert is theirs until it resolves (its reminders and escalation stop), and
the messages that told it are edited. On an alert someone already acknowledged, `-m` adds a comment
(kept in its timeline, shown by its messages). Which receiver: the stack
`d76 stack up` started (`--state-dir`, with its token), else `--receiver-url` with `--token` or
RECEIVER_TOKEN (`d76_cli.stack_client`).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from vocabulary import IDENTIFYING_LABELS

from .stack_client import api_error, default_actor, receiver, receiver_request, state_dir_option

__all__ = ["command"]


def _where(labels: dict[str, str]) -> str:
    return " ".join(f"{k}={labels[k]}" for k in IDENTIFYING_LABELS if labels.get(k))


_F = TypeVar("_F", bound=Callable[..., Any])


def alert_action_options(by_help: str, comment_help: str) -> Callable[[_F], _F]:
    """The arguments `d76 ack` and `d76 unack` share: the alert id, who, a comment and which receiver."""
    def wrap(fn: _F) -> _F:
        for option in reversed((
            click.argument("alert_id", type=click.IntRange(1, 2**63 - 1)),
            click.option("--as", "--by", "by", default=None, help=by_help),
            click.option("--comment", "-m", default=None, help=comment_help),
            click.option("--receiver-url", default=None,
                         help="the receiver's base URL [default: the stack in --state-dir]"),
            click.option("--token", default=None,
                         help="bearer token [default: the stack's; with --receiver-url, RECEIVER_TOKEN]"),
            state_dir_option,
        )):
            fn = option(fn)
        return fn
    return wrap


def post_alert_action(action: str, alert_id: int, by: str | None, comment: str | None, receiver_url: str | None,
                      token: str | None, state_dir: Path) -> tuple[dict[str, Any], str]:
    """POST /api/alerts/<id>/<action>; returns the answer and the alert in words (`#id name labels`)."""
    target = receiver(receiver_url, token, state_dir)
    body = {"by": by or default_actor(), **({"comment": comment} if comment else {})}
    resp = receiver_request(target, "POST", f"/api/alerts/{alert_id}/{action}", json=body)
    if resp.status_code == 404:
        raise click.ClickException(f"no alert #{alert_id} in the history (receiver from {target.origin})")
    if resp.status_code != 200:
        raise api_error(resp, target)
    data: dict[str, Any] = resp.json()
    alert = data["alert"]
    return data, f"#{alert['id']} {alert['alertname']} {_where(alert.get('labels') or {})}".rstrip()


@click.command(name="ack")
@alert_action_options(by_help="who acknowledges [default: USER@cli]", comment_help="what you are doing about it")
def command(alert_id: int, by: str | None, comment: str | None, receiver_url: str | None, token: str | None,
            state_dir: Path) -> None:
    """Acknowledge alert ID (its number in `d76 history` and in the messages)."""
    data, what = post_alert_action("ack", alert_id, by, comment, receiver_url, token, state_dir)
    alert = data["alert"]
    if data.get("changed"):
        click.echo(f"acknowledged {what} as {alert['acknowledged_by']}"
                   + (f": {alert['ack_comment']}" if alert.get("ack_comment") else ""))
    elif data.get("comment_added"):
        click.echo(f"comment added to {what} (acknowledged by {alert['acknowledged_by']}): {alert['last_comment']}")
    else:
        click.echo(f"{what} was already acknowledged by {alert['acknowledged_by']} at {alert['acknowledged_at']}")
