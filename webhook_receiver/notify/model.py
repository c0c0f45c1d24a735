"""What a channel is given to render: a `Notice` (what happened) about an `AlertView` (the alert as
the store has it now). Pure data; no I/O."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vocabulary import (
    IDENTIFYING_LABELS,
    PLUMBING_LABELS,
    SEVERITIES,
    AlertStatus,
    NotificationKind,
    Severity,
    severity_rank,
)

from ..timefmt import as_utc

__all__ = ["AlertView", "Notice", "SEVERITY_ORDER", "IDENTIFYING_LABELS", "severity_rank", "format_duration",
           "MACHINE_ANNOTATIONS"]

SEVERITY_ORDER = SEVERITIES
# annotations written for the receiver, not for a person: `graph` (the series that explain the alert, JSON
# for the graph renderer) and `threshold` (a bare number for the graph's line; the texts say it in words)
MACHINE_ANNOTATIONS = frozenset({"graph", "threshold"})


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return dict(value) if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class AlertView:
    """A read-only view of one stored alert, tolerant of both store rows and API JSON."""

    id: int | None
    alertname: str
    status: str
    severity: str
    source: str
    title: str
    message: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    silenced_until: datetime | None = None
    ack_comment: str | None = None       # the acknowledgement's own comment
    last_comment: str | None = None      # the latest comment (the acknowledgement's, a later one, an unack's)
    last_comment_by: str | None = None
    reminders_sent: int = 0
    escalations_sent: int = 0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AlertView:
        labels = {str(k): str(v) for k, v in _as_dict(row.get("labels")).items()}
        annotations = {str(k): str(v) for k, v in _as_dict(row.get("annotations")).items()}
        alertname = str(row.get("alertname") or labels.get("alertname") or "unknown")
        return cls(
            id=row.get("id"),
            alertname=alertname,
            status=str(row.get("status") or AlertStatus.FIRING),
            severity=str(row.get("severity") or labels.get("severity") or ""),
            source=str(row.get("source") or labels.get("source") or ""),
            title=str(row.get("title") or annotations.get("summary") or alertname),
            message=str(row.get("message") or annotations.get("description") or ""),
            labels=labels,
            annotations=annotations,
            metadata=_as_dict(row.get("metadata")),
            starts_at=as_utc(row.get("starts_at")),
            ends_at=as_utc(row.get("ends_at")),
            acknowledged_by=row.get("acknowledged_by"),
            acknowledged_at=as_utc(row.get("acknowledged_at")),
            silenced_until=as_utc(row.get("silenced_until")),
            ack_comment=row.get("ack_comment") or None,
            last_comment=row.get("last_comment") or None,
            last_comment_by=row.get("last_comment_by") or None,
            reminders_sent=int(row.get("reminders_sent") or 0),
            escalations_sent=int(row.get("escalations_sent") or 0),
        )

    def identifying_labels(self) -> list[tuple[str, str]]:
        """Known identifying labels first, then any other label except the bookkeeping ones."""
        skip = {"alertname", "severity", "source"}
        first = [(k, self.labels[k]) for k in IDENTIFYING_LABELS if k in self.labels]
        rest = sorted((k, v) for k, v in self.labels.items() if k not in skip and k not in IDENTIFYING_LABELS)
        return first + rest

    def page_labels(self) -> list[tuple[str, str]]:
        """The labels a page shows: `identifying_labels` without the plumbing ones (`instance`, `job`,
        ...), which tell an operator nothing when the alert names its exchange, route or symbol. An
        alert that has nothing else (ExporterDown, a bot's total daily loss: `instance`, `job`) keeps
        its `instance`: which bot it is about is what tells two such alerts apart."""
        labels = self.identifying_labels()
        telling = [(k, v) for k, v in labels if k not in PLUMBING_LABELS]
        return telling or [(k, v) for k, v in labels if k == "instance"] or labels

    def silence_matchers(self) -> list[dict[str, Any]]:
        """Alertmanager v2 matchers: alertname plus the identifying labels present."""
        names = ["alertname", *[k for k in IDENTIFYING_LABELS if k in self.labels]]
        values = {**self.labels, "alertname": self.alertname}
        return [{"name": n, "value": values[n], "isRegex": False, "isEqual": True} for n in names]

    @property
    def generator_url(self) -> str | None:
        return self.metadata.get("generatorURL") or self.metadata.get("generator_url")

    @property
    def runbook_url(self) -> str | None:
        return self.annotations.get("runbook_url")

    @property
    def value(self) -> str | None:
        """The current value as the rule rendered it (annotation `value`), when there is one."""
        return self.annotations.get("value") or None

    @property
    def resolved(self) -> bool:
        return self.status == AlertStatus.RESOLVED

    def identity(self, max_len: int = 120) -> str:
        """A short name for what is on fire: `upbit`, `upbit-binance-BTC`, `tier=global scope=global`.

        Values of exchange/route/symbol speak for themselves; other labels keep their key. An alert
        with no such label (a global loss limit, the exporter being down) is named by its summary."""
        labels = [(k, v) for k, v in self.identifying_labels() if k not in PLUMBING_LABELS]
        parts = [v if k in ("exchange", "route", "symbol") else f"{k}={v}" for k, v in labels]
        text = " · ".join(parts) or self.title or self.alertname
        return text if len(text) <= max_len else text[: max_len - 1] + "…"

    def firing_seconds(self, now: datetime | None = None) -> float | None:
        """How long it has fired (until its end, or now)."""
        if self.starts_at is None:
            return None
        return max(0.0, ((self.ends_at if self.resolved and self.ends_at else now or datetime.now(UTC))
                         - self.starts_at).total_seconds())

    def duration_seconds(self) -> float | None:
        if self.starts_at and self.ends_at:
            return max(0.0, (self.ends_at - self.starts_at).total_seconds())
        return None


def format_duration(seconds: float) -> str:
    """`3725` -> `1h 2m 5s`."""
    seconds = int(round(seconds))
    d, rem = divmod(seconds, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    parts = [f"{d}d" if d else "", f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s or seconds == 0 else ""]
    return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class Notice:
    """One thing to tell.

    kind: `firing` (an alert started), `resolved` (it ended), `ack` (someone acknowledged it),
    or a system notice without an alert (`deadman`, `digest`). `alert` is the alert's CURRENT state,
    so a firing notice told late already shows its resolve and acknowledgement.
    """

    kind: NotificationKind
    alert: AlertView | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        if self.alert is not None:
            return self.alert.severity
        return str(self.payload.get("severity") or Severity.P0)

