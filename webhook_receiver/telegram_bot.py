"""Telegram updates: Ack / Silence button presses, by webhook or by long polling.

`CallbackHandler.handle_update(update)` is the one place that acts on an update:
- only the configured chat and (when set) the allowed user ids may act;
- `ack:<id>` -> `store.ack_alert` (first ack wins) and the message is edited to show who and when;
- `sil:<id>:1h|24h` -> an Alertmanager API v2 silence with matchers from the alert's identifying
  labels, recorded with `store.set_silence`;
- every callback query is answered (Telegram shows a spinner until it is), whatever happened.

`telegram_blueprint(handler, secret)` serves `POST /telegram/webhook` (checked against
`X-Telegram-Bot-Api-Secret-Token`); `LongPoller` runs getUpdates in a thread when there is no public
URL (the default for a local stack).
"""
from __future__ import annotations

import hmac
import logging
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import requests
from flask import Blueprint, jsonify, request

from .notifiers.errors import DeliveryError
from .notifiers.model import AlertView
from .notifiers.telegram_format import alert_keyboard, format_acked, parse_callback_data

__all__ = ["AlertmanagerSilencer", "CallbackHandler", "LongPoller", "telegram_blueprint"]

log = logging.getLogger("d76.notify.telegram")
SILENCE_DURATIONS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24)}


class AlertmanagerSilencer:
    """Creates silences through Alertmanager's API v2."""

    def __init__(self, base_url: str, timeout: float = 5.0, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = session or requests.Session()

    def create(self, matchers: list[dict], starts_at: datetime, ends_at: datetime, created_by: str,
               comment: str) -> str:
        body = {"matchers": matchers, "startsAt": starts_at.isoformat(), "endsAt": ends_at.isoformat(),
                "createdBy": created_by, "comment": comment}
        try:
            resp = self._session.post(f"{self.base_url}/api/v2/silences", json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise DeliveryError(f"alertmanager: {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise DeliveryError(f"alertmanager: {resp.status_code} {resp.text[:200]}",
                                permanent=400 <= resp.status_code < 500, status=resp.status_code)
        return str(resp.json()["silenceID"])


class CallbackHandler:
    def __init__(self, store: Any, telegram: Any, silencer: AlertmanagerSilencer, *,
                 chat_id: str | None, allowed_user_ids: frozenset[int] = frozenset()) -> None:
        self.store = store
        self.telegram = telegram
        self.silencer = silencer
        self.chat_id = str(chat_id) if chat_id else None
        self.allowed_user_ids = allowed_user_ids

    def allowed(self, user_id: Any, chat_id: Any) -> bool:
        if self.chat_id is not None and str(chat_id) != self.chat_id:
            return False
        if self.allowed_user_ids and not (isinstance(user_id, int) and user_id in self.allowed_user_ids):
            return False
        return True

    def handle_update(self, update: dict) -> str | None:
        """Act on one update; returns the text shown to the user (None for non-callback updates)."""
        cq = update.get("callback_query") if isinstance(update, dict) else None
        if not isinstance(cq, dict) or not cq.get("id"):
            return None
        answer = "Something went wrong; see the receiver log"
        try:
            answer = self._act(cq)
        except DeliveryError as exc:  # Alertmanager refused or unreachable: tell the user, do not retry
            log.warning("callback action failed", extra={"fields": {"error": str(exc)}})
            answer = f"Could not do that: {exc}"[:200]
        except Exception:
            log.exception("callback query failed")
            raise
        finally:
            try:
                self.telegram.answer_callback_query(str(cq["id"]), answer)
            except DeliveryError as exc:
                log.warning("answerCallbackQuery failed", extra={"fields": {"error": str(exc)}})
        return answer

    def _act(self, cq: dict) -> str:
        user = cq.get("from") or {}
        message = cq.get("message") or {}
        chat_id = (message.get("chat") or {}).get("id")
        if not self.allowed(user.get("id"), chat_id):
            log.warning("callback refused", extra={"fields": {"user_id": user.get("id"), "chat_id": chat_id}})
            return "You are not allowed to act on these alerts"
        parsed = parse_callback_data(str(cq.get("data") or ""))
        if parsed is None:
            return "Unknown button"
        action, alert_id, duration = parsed
        raw = self.store.get_alert(alert_id, with_deliveries=False)
        if raw is None:
            return f"Alert {alert_id} is not in the history"
        who = f"telegram:{user.get('username') or user.get('id')}"
        now = datetime.now(timezone.utc)
        if action == "ack":
            changed = self.store.ack_alert(alert_id, who, None, now)
            if not changed:
                return f"Already acknowledged by {raw.get('acknowledged_by')}"
            log.info("alert acknowledged", extra={"fields": {"alert_id": alert_id, "by": who}})
            if message.get("message_id") is not None and raw.get("status") != "resolved":
                try:
                    self.telegram.edit_message_text(
                        chat_id, int(message["message_id"]), format_acked(AlertView.from_row(raw), who, now),
                        reply_markup=alert_keyboard(alert_id, acked=True))
                except DeliveryError as exc:
                    log.warning("ack edit failed", extra={"fields": {"alert_id": alert_id, "error": str(exc)}})
            return "Acknowledged"
        alert = AlertView.from_row(raw)
        until = now + SILENCE_DURATIONS[duration or "1h"]
        silence_id = self.silencer.create(alert.silence_matchers(), now, until, who,
                                          f"silenced from Telegram for {duration} (alert {alert_id})")
        self.store.set_silence(alert_id, silence_id, until)
        log.info("silence created", extra={"fields": {"alert_id": alert_id, "silence_id": silence_id,
                                                     "until": until.isoformat(), "by": who}})
        return f"Silenced for {duration}"


def telegram_blueprint(handler: CallbackHandler, secret: str | None) -> Blueprint:
    bp = Blueprint("d76_telegram", __name__)

    @bp.post("/telegram/webhook")
    def telegram_webhook() -> Any:
        if not secret:
            return jsonify(error="telegram webhook disabled: TELEGRAM_WEBHOOK_SECRET is not set"), 403
        got = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(got.encode(), secret.encode()):
            return jsonify(error="bad or missing X-Telegram-Bot-Api-Secret-Token"), 401
        update = request.get_json(silent=True)
        if not isinstance(update, dict):
            return jsonify(error="body must be a JSON Telegram Update object"), 400
        handler.handle_update(update)  # storage errors propagate -> 503, Telegram retries
        return jsonify(ok=True)

    return bp


class LongPoller:
    """getUpdates loop in a daemon thread; confirms each update by advancing the offset."""

    def __init__(self, client: Any, handler: CallbackHandler, poll_timeout: int = 25) -> None:
        self.client = client
        self.handler = handler
        self.poll_timeout = poll_timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.offset: int | None = None

    def start(self) -> "LongPoller":
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="d76-telegram-poller", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)  # a poll in flight ends by itself within poll_timeout
            self._thread = None

    def poll_once(self) -> int:
        updates = self.client.get_updates(self.offset, timeout=self.poll_timeout)
        for u in updates:
            self.offset = int(u["update_id"]) + 1
            try:
                self.handler.handle_update(u)
            except Exception:
                log.exception("telegram update failed", extra={"fields": {"update_id": u.get("update_id")}})
        return len(updates)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self.poll_once()
                failures = 0
            except DeliveryError as exc:
                failures += 1
                wait = exc.retry_after if exc.retry_after is not None else min(30.0, 0.5 * 2 ** failures)
                log.warning("getUpdates failed", extra={"fields": {"error": str(exc), "retry_in_s": wait}})
                self._stop.wait(wait)
            except Exception:
                log.exception("long polling iteration failed")
                self._stop.wait(1.0)
