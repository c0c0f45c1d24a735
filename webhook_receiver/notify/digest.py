"""The daily P3 email digest: what goes in it, when it is sent, and sending it now.

`collect_digest(store, since, until)` gathers P3 alerts that started in the window plus those still
open; `send_digest(store, settings, ...)` renders and sends it now (the CLI). `DigestScheduler`
queues a `digest` row on the email lane (dedupe key `digest:<date>`) at DIGEST_HOUR_UTC each day; the
dispatcher sends it through the email channel, so with several receiver processes the mail goes out
once and a failure is retried.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from ..background import Periodic
from .channels.base import Part
from .channels.email import DigestContent, EmailChannel, build_digest
from .model import AlertView, Notice
from .settings import NotifySettings

__all__ = ["DigestScheduler", "collect_digest", "next_run", "send_digest", "digest_builder", "DIGEST_LANE"]

DIGEST_LANE = ("email", "default")

log = logging.getLogger("d76.notify.digest")


def collect_digest(store: Any, since: datetime, until: datetime, severity: str = "P3",
                   limit: int = 5000) -> DigestContent:
    from ..store.base import AlertQuery

    window = store.list_alerts(AlertQuery(since=since, until=until, severities=(severity,), limit=limit))
    still_open = store.list_alerts(AlertQuery(until=until, severities=(severity,), status="firing", limit=limit))
    by_id = {r["id"]: r for r in [*window, *still_open]}
    alerts = [AlertView.from_row(r) for r in sorted(by_id.values(), key=lambda r: r["id"])]
    return build_digest(alerts, since, until)


def send_digest(store: Any, settings: NotifySettings, *, until: datetime | None = None,
                hours: float = 24.0) -> tuple[str, DigestContent]:
    """Render and send the digest for the `hours` before `until` now; returns (Message-ID, content)."""
    channel = EmailChannel.from_settings(settings)
    if channel is None:
        raise ValueError("email digest is off: set SMTP_HOST, ALERT_EMAIL_FROM and ALERT_EMAIL_TO")
    until = until or datetime.now(timezone.utc)
    content = collect_digest(store, until - timedelta(hours=hours), until)
    part: Part = channel.render_single(Notice("digest", payload={"content": content}), "default")[0]
    message_id = channel.send("default", part) or ""
    log.info("digest sent", extra={"fields": {"alerts": len(content.alerts), "open": len(content.open),
                                              "resolved": len(content.resolved)}})
    return message_id, content


def digest_builder(store: Any, hours: float = 24.0) -> Callable[[dict], DigestContent]:
    """The dispatcher's hook for `digest` rows: their payload carries the window's end."""

    def build(payload: dict) -> DigestContent:
        until = datetime.fromisoformat(payload["until"]) if payload.get("until") else datetime.now(timezone.utc)
        return collect_digest(store, until - timedelta(hours=hours), until)

    return build


def next_run(now: datetime, hour_utc: int) -> datetime:
    run = now.astimezone(timezone.utc).replace(hour=hour_utc, minute=0, second=0, microsecond=0)
    return run if run > now else run + timedelta(days=1)


class DigestScheduler:
    def __init__(self, store: Any, outbox: Any, settings: NotifySettings, *,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 on_queued: Callable[[], None] | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self.settings = settings
        self.now = now
        self.on_queued = on_queued

    def queue(self, at: datetime) -> bool:
        """Queue the digest for the day of `at` (once per day across processes)."""
        n = self.outbox.enqueue_now([{
            "channel": DIGEST_LANE[0], "destination": DIGEST_LANE[1], "kind": "digest", "severity": "P3",
            "dedupe_key": f"digest:{at.astimezone(timezone.utc):%Y-%m-%d}",
            "payload": {"until": at.isoformat()}}])
        if n and self.on_queued:
            self.on_queued()
        return bool(n)

    def _due_in(self) -> float:
        self._at = next_run(self.now(), self.settings.digest_hour_utc)
        return (self._at - self.now()).total_seconds()

    def start(self) -> "DigestScheduler":
        self._worker = Periodic("digest", lambda: self.queue(self._at), self._due_in, log).start()
        return self

    _worker: Periodic | None = None

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()
