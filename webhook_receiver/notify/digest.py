"""The daily email digest: what goes in it, when it is sent, and sending it now.

`collect_digest(store, since, until)` summarises every severity of the alerts active in the window
(P0-P2 counted with their mean times to acknowledge and to resolve, silenced and inhibited episodes
counted), lists the P3 alerts active in the window in full, and attaches the window's history (every
severity) as CSV (`history.export`, the columns of `GET /api/alerts.csv`);
`send_digest(store, settings, ...)` renders and sends it now (the CLI). `DigestScheduler`
queues a `digest` row on the lane of the channel that takes the digest (the email channel's; dedupe
key `digest:<date>`) at DIGEST_HOUR_UTC each day; the dispatcher sends it through that channel, so
with several receiver processes the mail goes out once and a failure is retried.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from vocabulary import SEVERITIES, AlertStatus, NotificationKind, Severity

from ..background import Periodic
from ..history.export import export_rows, to_csv
from ..store.base import AlertQuery, AlertStore
from ..store.episodes import HistoryTables
from .channels.base import Part
from .channels.email import DigestContent, EmailChannel, SeverityLine, build_digest
from .model import AlertView, Notice
from .outbox import Lane, Outbox
from .settings import NotifySettings

__all__ = ["DigestScheduler", "collect_digest", "next_run", "send_digest", "digest_builder"]

log = logging.getLogger("d76.notify.digest")

SUMMARY_SEVERITIES = SEVERITIES
# the most alerts one digest counts and attaches (a day of 100,000 fits: about 8 s and a 32 MB CSV,
# `benchmarks.run scale`); a window holding more says so in the digest
DIGEST_MAX_ALERTS = 200_000
Row = dict[str, Any]


def _window(store: AlertStore, since: datetime, until: datetime, limit: int) -> tuple[list[Row], bool]:
    """Every alert active in [since, until) (started before its end, not ended before its start: an
    alert firing for two days is in today's digest), all severities, oldest first (paged reads); at
    most the newest `limit`, and whether the window held more."""
    rows = [r for page in store.iter_alert_pages(AlertQuery(since=since, until=until, active=True), limit + 1)
            for r in page]
    capped = len(rows) > limit
    return sorted(rows[:limit], key=lambda r: (r["starts_at"], r["id"])), capped


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def summarise(rows: list[Row], episodes: Mapping[int, Iterable[object]]) -> list[SeverityLine]:
    out = []
    for sev in SUMMARY_SEVERITIES:
        mine = [r for r in rows if r["severity"] == sev]
        ack = [(r["acknowledged_at"] - r["starts_at"]).total_seconds() for r in mine if r.get("acknowledged_at")]
        res = [(r["ends_at"] - r["starts_at"]).total_seconds() for r in mine
               if r["status"] == AlertStatus.RESOLVED and r.get("ends_at")]
        out.append(SeverityLine(sev, alerts=len(mine), open=sum(r["status"] == AlertStatus.FIRING for r in mine),
                                acknowledged=sum(bool(r["acknowledged"]) for r in mine), mtta_seconds=_mean(ack),
                                mttr_seconds=_mean(res), suppressed=sum(1 for r in mine if episodes.get(int(r["id"])))))
    return out


def collect_digest(store: AlertStore, since: datetime, until: datetime, severity: str = Severity.P3,
                   limit: int = DIGEST_MAX_ALERTS) -> DigestContent:
    window, capped = _window(store, since, until, limit)
    tables = HistoryTables(store)
    episodes = tables.episodes_for(r["id"] for r in window)
    listed = [r for r in window if r["severity"] == severity]
    still_open = store.list_alerts(AlertQuery(until=until, severities=(severity,), status=AlertStatus.FIRING,
                                              limit=5000))
    by_id = {r["id"]: r for r in [*listed, *still_open]}
    alerts = [AlertView.from_row(r) for r in sorted(by_id.values(), key=lambda r: r["id"])]
    kinds: dict[str, int] = {"silenced": 0, "inhibited": 0}  # and "muted" when a maintenance window muted any
    for e in tables.episodes_between(since, until):
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    return build_digest(alerts, since, until, summary=summarise(window, episodes), episodes=tuple(kinds.items()),
                        csv_text=to_csv(export_rows(window, episodes)), csv_rows=len(window),
                        capped_at=limit if capped else None)


def send_digest(store: AlertStore, settings: NotifySettings, *, until: datetime | None = None,
                hours: float = 24.0) -> tuple[str, DigestContent]:
    """Render and send the digest by email for the `hours` before `until` now; returns (Message-ID,
    content)."""
    channel = EmailChannel.from_settings(settings.raw, settings)
    if channel is None:
        raise ValueError("email digest is off: set SMTP_HOST, ALERT_EMAIL_FROM and ALERT_EMAIL_TO")
    until = until or datetime.now(UTC)
    content = collect_digest(store, until - timedelta(hours=hours), until)
    to = channel.digest_destination()
    part: Part = channel.render_single(Notice(NotificationKind.DIGEST, payload={"content": content}), to)[0]
    message_id = channel.send(to, part) or ""
    log.info("digest sent", extra={"fields": {"alerts": len(content.alerts), "open": len(content.open),
                                              "resolved": len(content.resolved)}})
    return message_id, content


def digest_builder(store: AlertStore, hours: float = 24.0) -> Callable[[Mapping[str, Any]], DigestContent]:
    """The dispatcher's hook for `digest` rows: their payload carries the window's end."""

    def build(payload: Mapping[str, Any]) -> DigestContent:
        until = datetime.fromisoformat(payload["until"]) if payload.get("until") else datetime.now(UTC)
        return collect_digest(store, until - timedelta(hours=hours), until)

    return build


def next_run(now: datetime, hour_utc: int) -> datetime:
    run = now.astimezone(UTC).replace(hour=hour_utc, minute=0, second=0, microsecond=0)
    return run if run > now else run + timedelta(days=1)


class DigestScheduler:
    def __init__(self, store: AlertStore, outbox: Outbox, settings: NotifySettings, *, lane: Lane,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 on_queued: Callable[[], None] | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self.settings = settings
        self.lane = lane  # the channel that takes the digest, and where
        self.now = now
        self.on_queued = on_queued
        self._at = now()
        self._worker: Periodic | None = None

    def queue(self, at: datetime) -> bool:
        """Queue the digest for the day of `at` (once per day across processes)."""
        n = self.outbox.enqueue_now([{
            "channel": self.lane.channel, "destination": self.lane.destination, "kind": NotificationKind.DIGEST,
            "severity": Severity.P3,
            "dedupe_key": f"digest:{at.astimezone(UTC):%Y-%m-%d}",
            "payload": {"until": at.isoformat()}}])
        if n and self.on_queued:
            self.on_queued()
        return bool(n)

    def _due_in(self) -> float:
        self._at = next_run(self.now(), self.settings.digest_hour_utc)
        return (self._at - self.now()).total_seconds()

    def start(self) -> DigestScheduler:
        self._worker = Periodic("digest", lambda: self.queue(self._at), self._due_in, log).start()
        return self

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()
