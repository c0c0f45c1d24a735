"""The seam between storing alerts and queuing their notifications.

`AlertStore.ingest` calls an `OutboxPlanner` inside the SAME transaction that stores a payload, so
"stored" and "queued for delivery" commit or roll back together. The planner inserts rows with
`store.enqueue_notifications(tx, rows)`. The receiver's default planner queues nothing; the
notifications layer supplies the real one (`create_app(settings, planner=...)` or
`app.config["OUTBOX_PLANNER"]`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Literal

if TYPE_CHECKING:
    from .payload import WebhookPayload
    from .store.base import Transaction

__all__ = ["AlertChange", "ChangeKind", "OutboxPlanner", "noop_planner"]

ChangeKind = Literal["new", "updated", "resolved", "unchanged"]


@dataclass(frozen=True)
class AlertChange:
    """What one payload did to one stored alert occurrence.

    kind: `new` (first time stored, whatever its status), `resolved` (was firing, now resolved),
    `updated` (still firing, annotations changed), `unchanged` (repeat, HA duplicate, or a late
    firing after the resolve, which never reopens the alert).
    """

    alert_id: int
    kind: ChangeKind
    fingerprint: str
    starts_at: datetime
    status: str  # the stored status after this payload
    alertname: str
    severity: str
    source: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    ends_at: datetime | None = None
    generator_url: str = ""


OutboxPlanner = Callable[["Transaction", "list[AlertChange]", "WebhookPayload"], None]


def noop_planner(tx: "Transaction", changes: "list[AlertChange]", payload: "WebhookPayload") -> None:
    """The receiver's default: store only, queue no notifications."""
    return None
