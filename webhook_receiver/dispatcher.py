"""The background dispatcher: delivers queued notifications, once, with retries and pacing.

Loop: claim due rows (`store.claim_due_notifications`, PostgreSQL `FOR UPDATE SKIP LOCKED`, so
several receiver processes never take the same row), P0 first; deliver each through its channel;
record the outcome with `store.mark_notification` (status, last_error, message_id, chat_id).

- Retryable errors (5xx, timeouts, connection) -> `pending` again after exponential backoff with
  jitter; a 429's `retry_after` wins over the backoff and pauses the whole chat.
- Permanent errors (400 "can't parse entities", 403 blocked) -> `failed` with the error, at once.
- Telegram pacing (`webhook_receiver.pacing`): short waits for Telegram's 1 msg/s happen in the
  loop while the row is leased; over-budget P1-P3 rows are held and folded into one summary
  message, then marked `folded` with the summary's message id. A crash before the summary leaves
  them leased; the lease runs out and they are delivered (or folded) again: never lost.
- Resolve edits the original Telegram message (message_id/chat_id of the firing row) to show it
  resolved and for how long; if the firing message never went out, a new message is sent.
- Restart-safe: all state that matters is in the notifications table.
"""
from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol

from .notifiers.channel_map import ChannelMap
from .notifiers.console import ConsoleTelegram
from .notify_metrics import NotifyMetrics
from .notifiers.errors import DeliveryError
from .notifiers.model import AlertView, severity_rank
from .notifiers.settings import NotifySettings
from .notifiers.telegram import TelegramClient
from .notifiers.telegram_format import (
    alert_keyboard, format_alert, format_deadman, format_resolved, format_summary,
)
from .notifiers.webhooks import DiscordWebhook, SlackWebhook
from .pacing import Decision, FoldedItem, Pacer, PacingLimits

__all__ = ["Dispatcher", "TelegramLike", "make_telegram"]

log = logging.getLogger("d76.notify.dispatcher")


class TelegramLike(Protocol):
    def send_message(self, chat_id: str | int, text: str, *, reply_markup: dict | None = None,
                     reply_to_message_id: int | None = None, disable_preview: bool = True) -> int: ...

    def edit_message_text(self, chat_id: str | int, message_id: int, text: str, *,
                          reply_markup: dict | None = None) -> None: ...


def make_telegram(settings: NotifySettings) -> tuple[Any, str]:
    """(client, chat id): the real Bot API client, or the console dry run when there is no token."""
    if settings.telegram_dry_run or not settings.telegram_chat_id:
        return ConsoleTelegram(), settings.telegram_chat_id or "console"
    return TelegramClient(settings.telegram_bot_token or "", settings.telegram_api_url), settings.telegram_chat_id


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Dispatcher:
    MAX_INLINE_WAIT = 1.5  # waits up to this long (Telegram's 1 msg/s) happen in the loop

    def __init__(self, store: Any, settings: NotifySettings, channel_map: ChannelMap, *,
                 telegram: Any | None = None, chat_id: str | None = None,
                 pacer: Pacer | None = None, worker_id: str | None = None,
                 batch_size: int = 20, lease_seconds: float = 60.0, max_failures: int = 10,
                 backoff_base: float = 1.0, backoff_cap: float = 300.0,
                 clock: Callable[[], float] = time.monotonic,
                 digest_sender: Callable[[dict], str] | None = None,
                 metrics: NotifyMetrics | None = None) -> None:
        self.store = store
        self.metrics = metrics or NotifyMetrics()
        self.settings = settings
        if telegram is None:
            telegram, default_chat = make_telegram(settings)
            chat_id = chat_id or default_chat
        self.telegram = telegram
        self.chat_id = str(chat_id or settings.telegram_chat_id or "console")
        self.pacer = pacer or Pacer(PacingLimits.from_channel_map(
            channel_map, summary_interval=settings.summary_interval_seconds), clock=clock)
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.max_failures = max_failures
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.digest_sender = digest_sender
        self._slack: dict[str, SlackWebhook] = {}
        self._discord = DiscordWebhook(settings.discord_webhook_url) if settings.discord_webhook_url else None
        self._held: dict[int, dict] = {}  # folded rows awaiting their summary, by notification id
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> "Dispatcher":
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="d76-dispatcher", daemon=True)
            self._thread.start()
            log.info("dispatcher started", extra={"fields": {
                "worker": self.worker_id, "dry_run": isinstance(self.telegram, ConsoleTelegram)}})
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Called after an ingest queued rows so delivery starts without waiting for the poll."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before claiming: a wake() during run_once is not lost
            try:
                handled = self.run_once()
            except Exception:  # storage down, etc.: log, back off, keep going
                log.exception("dispatcher iteration failed")
                handled = 0
            if handled == 0:
                self._wake.wait(self.settings.dispatcher_poll_seconds)

    # one pass ------------------------------------------------------------------------------
    def run_once(self) -> int:
        rows = self.store.claim_due_notifications(None, self.batch_size, self.worker_id, self.lease_seconds)
        rows.sort(key=lambda r: (severity_rank(r.get("severity")), r["id"]))
        if any(r["channel"] == "telegram" for r in rows):
            self._sync_peers()
        for row in rows:
            if self._stop.is_set():
                break
            self._flush_summary()
            try:
                self._deliver(row)
            except DeliveryError as exc:
                self._failed(row, exc)
            except Exception as exc:  # a bug or a storage error: record it, retry later
                log.exception("notification unexpected error", extra={"fields": {"notification_id": row["id"]}})
                self._failed(row, DeliveryError(f"internal error: {type(exc).__name__}"))
        self._flush_summary()
        return len(rows)

    PEER_SYNC_EVERY = 0.0  # seconds between peer syncs; each batch with Telegram rows syncs
    _peer_synced_at = float("-inf")

    def _sync_peers(self) -> None:
        """Feed Telegram messages other receiver processes sent in the last window into our pacer.

        Two processes deciding in the same instant can still overshoot a budget by one message each;
        a shared budget without a global lock is approximate by design."""
        if self.clock() - self._peer_synced_at < self.PEER_SYNC_EVERY:
            return
        self._peer_synced_at = self.clock()
        d = self.store.dialect
        since = _utcnow() - timedelta(seconds=self.pacer.limits.window)
        with self.store.transaction(write=False) as tx:
            rows = tx.fetchall(
                "SELECT id, severity, kind, sent_at, created_at, payload FROM notifications "
                "WHERE channel = 'telegram' AND status = 'sent' AND sent_at >= %s "
                "AND kind IN ('firing', 'deadman', 'summary')",  # notifications_sent_idx
                (d.time_in(since),))
        now_wall, now_mono = _utcnow(), self.clock()
        for r in rows:
            payload = d.json_out(r["payload"]) or {}
            if payload.get("worker") == self.worker_id:
                continue
            at = d.time_out(r["sent_at"]) or d.time_out(r["created_at"])
            if at is None:
                continue
            if at.tzinfo is None:
                at = at.replace(tzinfo=timezone.utc)
            severity = None if r["kind"] == "summary" else (r["severity"] or None)
            self.pacer.record_external(("db", r["id"]), severity, self.chat_id,
                                       now_mono - (now_wall - at).total_seconds())

    def pending_summary(self) -> bool:
        return bool(self._held)

    # outcomes ------------------------------------------------------------------------------
    def _failures(self, row: dict) -> int:
        return int((row.get("payload") or {}).get("failures", 0))

    def _failed(self, row: dict, exc: DeliveryError) -> None:
        failures = self._failures(row) + 1
        payload = {**(row.get("payload") or {}), "failures": failures}
        if exc.permanent or failures >= self.max_failures:
            why = str(exc) if exc.permanent else f"gave up after {failures} failures: {exc}"
            self.store.mark_notification(row["id"], "failed", error=why, payload=payload)
            self.metrics.failed.labels(row["channel"], row["kind"]).inc()
            log.warning("notification failed", extra={"fields": {
                "notification_id": row["id"], "channel": row["channel"], "kind": row["kind"], "error": why}})
            return
        if exc.retry_after is not None:
            delay = float(exc.retry_after)
            if row["channel"] == "telegram":
                self.pacer.hold(self.chat_id, self.clock() + delay)
        else:
            delay = min(self.backoff_cap, self.backoff_base * 2 ** (failures - 1)) * random.uniform(0.5, 1.0)
        self.store.mark_notification(row["id"], "pending", error=str(exc), payload=payload,
                                     next_attempt_at=_utcnow() + timedelta(seconds=delay))
        self.metrics.retries.labels(row["channel"]).inc()
        log.info("notification retry", extra={"fields": {
            "notification_id": row["id"], "channel": row["channel"], "kind": row["kind"],
            "retry_in_s": round(delay, 3), "failures": failures, "error": str(exc)}})

    def _sent(self, row: dict, message_id: Any = None, chat_id: str | None = None) -> None:
        # `worker` lets the other receiver processes count this message against the shared budget
        self.store.mark_notification(row["id"], "sent", message_id=None if message_id is None else str(message_id),
                                     chat_id=chat_id, payload={**(row.get("payload") or {}), "worker": self.worker_id})
        self.metrics.sent.labels(row["channel"], row["kind"]).inc()
        log.info("notification sent", extra={"fields": {
            "notification_id": row["id"], "channel": row["channel"], "kind": row["kind"],
            "severity": row.get("severity"), "alert_id": row.get("alert_id")}})

    def _defer(self, row: dict, seconds: float, why: str) -> None:
        self.store.mark_notification(row["id"], "pending", error=why,
                                     next_attempt_at=_utcnow() + timedelta(seconds=max(seconds, 0.05)))

    # delivery ------------------------------------------------------------------------------
    def _alert(self, row: dict) -> tuple[AlertView, dict] | None:
        if row.get("alert_id") is None:
            return None
        raw = self.store.get_alert(row["alert_id"])
        if raw is None:
            raise DeliveryError(f"alert {row['alert_id']} no longer exists", permanent=True)
        return AlertView.from_row(raw), raw

    def _deliver(self, row: dict) -> None:
        channel, kind = row["channel"], row["kind"]
        if channel == "telegram":
            if kind == "firing":
                self._telegram_firing(row)
            elif kind == "resolved":
                self._telegram_resolved(row)
            elif kind == "deadman":
                self._telegram_deadman(row)
            elif kind == "ack":
                self._telegram_ack(row)
            else:
                raise DeliveryError(f"telegram: unsupported kind {kind!r}", permanent=True)
        elif channel in ("slack", "discord"):
            got = self._alert(row)
            if got is None:
                raise DeliveryError(f"{channel}: {kind} rows need an alert", permanent=True)
            alert, _ = got
            hook = self._slack_for(alert.severity) if channel == "slack" else self._discord
            if hook is None:
                raise DeliveryError(f"{channel}: no webhook URL configured for {alert.severity}", permanent=True)
            hook.send(alert, kind)
            self._sent(row)
        elif channel == "email" and kind == "digest":
            if self.digest_sender is None:
                raise DeliveryError("email: digest not configured (SMTP_HOST, ALERT_EMAIL_FROM/TO)", permanent=True)
            self._sent(row, message_id=self.digest_sender(row.get("payload") or {}))
        else:
            raise DeliveryError(f"unknown channel/kind {channel}/{kind}", permanent=True)

    def _slack_for(self, severity: str) -> SlackWebhook | None:
        url = self.settings.slack_url_for(severity)
        if not url:
            return None
        if severity not in self._slack:
            self._slack[severity] = SlackWebhook(url)
        return self._slack[severity]

    def _pace(self, row: dict, severity: str, name: str) -> bool:
        """True when the caller may send now; otherwise the row was deferred or held for a summary."""
        while True:
            d = self.pacer.decide(severity, self.chat_id)
            if d.decision is Decision.SEND:
                return True
            if d.decision is Decision.FOLD:
                self.pacer.fold(self.chat_id, FoldedItem(row["id"], severity, name))
                self._held[row["id"]] = row
                return False
            wait = (d.until or self.clock()) - self.clock()
            if wait > self.MAX_INLINE_WAIT:
                self._defer(row, wait, f"paced: {d.reason}")
                return False
            if self._stop.wait(max(wait, 0.0)):
                self._defer(row, 0.0, "dispatcher stopping")
                return False

    def _telegram_firing(self, row: dict) -> None:
        got = self._alert(row)
        assert got is not None
        alert, raw = got
        if not self._pace(row, alert.severity, alert.alertname):
            return
        text = format_alert(alert)
        mid = self.telegram.send_message(self.chat_id, text, reply_markup=alert_keyboard(
            int(row["alert_id"]), acked=bool(raw.get("acknowledged"))))
        self.pacer.record_send(alert.severity, self.chat_id)
        self._sent(row, mid, self.chat_id)

    def _telegram_resolved(self, row: dict) -> None:
        got = self._alert(row)
        assert got is not None
        alert, raw = got
        firing = [d for d in raw.get("deliveries", []) if d["channel"] == "telegram" and d["kind"] == "firing"]
        first = firing[0] if firing else None
        text = format_resolved(alert)
        if first is not None and first["status"] in ("pending", "sending"):
            self._defer(row, 1.0, "waiting for the firing message to go out first")
            return
        if first is not None and first["status"] == "folded":
            self.pacer.fold(self.chat_id, FoldedItem(row["id"], alert.severity, f"{alert.alertname} (resolved)"))
            self._held[row["id"]] = row
            return
        if first is not None and first["status"] == "sent" and first.get("message_id"):
            chat = first.get("chat_id") or self.chat_id
            try:
                self.telegram.edit_message_text(chat, int(first["message_id"]), text,
                                                reply_markup={"inline_keyboard": []})
                self._sent(row, first["message_id"], chat)
                return
            except DeliveryError as exc:
                if not exc.permanent:
                    raise
                log.info("resolve edit refused; sending a new message", extra={"fields": {"error": str(exc)}})
        if not self._pace(row, alert.severity, f"{alert.alertname} (resolved)"):
            return
        mid = self.telegram.send_message(self.chat_id, text)
        self.pacer.record_send(alert.severity, self.chat_id)
        self._sent(row, mid, self.chat_id)

    def _telegram_ack(self, row: dict) -> None:
        """Acked through the API: edit the firing message to show who and when (no new message)."""
        got = self._alert(row)
        assert got is not None
        alert, raw = got
        firing = [d for d in raw.get("deliveries", []) if d["channel"] == "telegram" and d["kind"] == "firing"]
        first = firing[0] if firing else None
        if first is not None and first["status"] in ("pending", "sending"):
            self._defer(row, 1.0, "waiting for the firing message to go out first")
            return
        if first is None or first["status"] != "sent" or not first.get("message_id"):
            raise DeliveryError("no Telegram message to edit for this alert", permanent=True)
        if alert.status == "resolved":
            raise DeliveryError("alert already resolved; its message shows the resolve", permanent=True)
        chat = first.get("chat_id") or self.chat_id
        self.telegram.edit_message_text(chat, int(first["message_id"]), format_alert(alert),
                                        reply_markup=alert_keyboard(int(row["alert_id"]), acked=True))
        self._sent(row, first["message_id"], chat)

    def _telegram_deadman(self, row: dict) -> None:
        p = row.get("payload") or {}
        if not self._pace(row, "P0", "deadman"):
            return
        at = datetime.fromisoformat(p["at"]) if p.get("at") else _utcnow()
        mid = self.telegram.send_message(self.chat_id, format_deadman(bool(p.get("down", True)),
                                                                      float(p.get("silent_for", 0)), at))
        self.pacer.record_send("P0", self.chat_id)
        self._sent(row, mid, self.chat_id)

    # storm summaries -----------------------------------------------------------------------
    def _flush_summary(self) -> None:
        if not self._held or not self.pacer.summary_due(self.chat_id):
            return
        items = self.pacer.take_folded(self.chat_id)
        by_sev: dict[str, list[str]] = {}
        for it in items:
            by_sev.setdefault(it.severity, []).append(it.alertname)
        try:
            mid = self.telegram.send_message(self.chat_id, format_summary(by_sev))
        except DeliveryError as exc:
            if exc.permanent:
                for it in items:
                    row = self._held.pop(it.key, None)
                    if row is not None:
                        self.store.mark_notification(row["id"], "failed", error=f"summary: {exc}")
                return
            self.pacer.restore_folded(self.chat_id, items)
            if exc.retry_after is not None:
                self.pacer.hold(self.chat_id, self.clock() + exc.retry_after)
            log.info("storm summary retry later", extra={"fields": {"error": str(exc)}})
            return
        self.pacer.summary_sent(self.chat_id)
        counts = {s: len(n) for s, n in by_sev.items()}
        with self.store.transaction() as tx:
            self.store.enqueue_notifications(tx, [{
                "channel": "telegram", "kind": "summary", "status": "sent", "severity": min(by_sev, key=severity_rank),
                "dedupe_key": f"summary:{uuid.uuid4().hex}",
                "payload": {"message_id": mid, "counts": counts, "notification_ids": [it.key for it in items],
                            "worker": self.worker_id}}])
        for it in items:
            row = self._held.pop(it.key, None)
            if row is not None:
                self.store.mark_notification(row["id"], "folded", message_id=str(mid), chat_id=self.chat_id,
                                             error=None)
                self.metrics.folded.labels(row.get("severity") or "").inc()
        log.info("storm summary sent", extra={"fields": {"folded": len(items), "counts": counts}})
