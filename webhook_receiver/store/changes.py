"""What one stored payload did to the alert history, and the hook that sees it inside the transaction.

`AlertStore.ingest(payload, hook)` calls `hook(tx, changes, payload)` in the SAME transaction that
stores the payload, so whatever the hook writes (the notification outbox) commits or rolls back
together with the alerts. The store knows nothing about notifications; `webhook_receiver.notify`
supplies the hook.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ..payload import WebhookPayload
    from .base import Transaction

__all__ = ["AlertChange", "ChangeKind", "IngestHook", "no_hook"]

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


IngestHook = Callable[["Transaction", "list[AlertChange]", "WebhookPayload"], None]


def no_hook(tx: Transaction, changes: list[AlertChange], payload: WebhookPayload) -> None:
    """The default: store only."""
    return None
