"""Telegram updates: button presses, by webhook or by long polling.

`CallbackHandler.handle_update(update)` is the one place that acts on an update:
- only the configured chat and (when set) the allowed user ids may act;
- `ack:<id>` / `pa:<message>` (Ack all) -> the actions' acknowledge, which records the ack and queues
  the message edits through the outbox (paced like every other message);
- `sil:<id>:1h|24h` / `ps:<message>:1h` -> Alertmanager API v2 silences with matchers from each
  alert's identifying labels, recorded in the history;
- every callback query is answered (Telegram shows a spinner until it is), whatever happened.

`telegram_blueprint(handler, secret)` serves `POST /telegram/webhook` (checked against
`X-Telegram-Bot-Api-Secret-Token`); `LongPoller` runs getUpdates in a thread when there is no public
URL (the default for a local stack).
"""
from __future__ import annotations

import hmac
import logging
import threading
from datetime import timedelta
from typing import Any, Protocol

from flask import Blueprint, jsonify, request

from ..base import DeliveryError
from .format import parse_callback_data

__all__ = ["Actions", "CallbackHandler", "LongPoller", "telegram_blueprint"]

log = logging.getLogger("d76.notify.telegram")
SILENCE_DURATIONS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24)}


class Actions(Protocol):
    """What a button press may do (`webhook_receiver.notify.actions.AlertActions`)."""

    def acknowledge(self, alert_id: int, by: str, comment: str | None = None) -> Any: ...
    def acknowledge_message(self, message_ref: int, by: str) -> int: ...
    def silence(self, alert_id: int, duration: timedelta, by: str, comment: str | None = None) -> str: ...
    def silence_message(self, message_ref: int, duration: timedelta, by: str) -> int: ...


class CallbackHandler:
    def __init__(self, actions: Actions, telegram: Any, *,
                 chat_id: str | None, allowed_user_ids: frozenset[int] = frozenset(),
                 action_errors: tuple[type[Exception], ...] = ()) -> None:
        self.actions = actions
        self.telegram = telegram
        self.action_errors = action_errors
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
        except self.action_errors as exc:  # Alertmanager refused or unreachable: tell the user, do not retry
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
        user = _obj(cq.get("from"))
        message = _obj(cq.get("message"))
        chat_id = _obj(message.get("chat")).get("id")
        if not self.allowed(user.get("id"), chat_id):
            log.warning("callback refused", extra={"fields": {"user_id": user.get("id"), "chat_id": chat_id}})
            return "You are not allowed to act on these alerts"
        parsed = parse_callback_data(str(cq.get("data") or ""))
        if parsed is None:
            return "Unknown button"
        who = _who(user)
        if parsed.action == "ack":
            try:
                result = self.actions.acknowledge(parsed.target, who)
            except LookupError:
                return f"Alert {parsed.target} is not in the history"
            if not result.changed:
                return f"Already acknowledged by {result.alert.get('acknowledged_by')}"
            return "Acknowledged"
        if parsed.action == "ack_all":
            n = self.actions.acknowledge_message(parsed.target, who)
            return f"Acknowledged {n} alert{'s' if n != 1 else ''}" if n else "Nothing left to acknowledge"
        duration = SILENCE_DURATIONS[parsed.duration or "1h"]
        if parsed.action == "sil":
            try:
                self.actions.silence(parsed.target, duration, who,
                                     f"silenced from Telegram for {parsed.duration} (alert {parsed.target})")
            except LookupError:
                return f"Alert {parsed.target} is not in the history"
            return f"Silenced for {parsed.duration}"
        n = self.actions.silence_message(parsed.target, duration, who)
        return f"Silenced {n} alert{'s' if n != 1 else ''} for {parsed.duration}"


def _obj(v: Any) -> dict:
    """A JSON object from an update, or {} when the field is missing or of another type (an update is
    untrusted input: wrong types are ignored, never a 500)."""
    return v if isinstance(v, dict) else {}


def _who(user: dict) -> str:
    """`telegram:<username or id>`, with characters no store accepts (NUL, lone surrogates) dropped."""
    name = user.get("username") if isinstance(user.get("username"), str) else None
    ident = name or str(user.get("id") if isinstance(user.get("id"), (int, str)) else "unknown")
    clean = "".join(c for c in ident if c != "\x00" and not 0xD800 <= ord(c) <= 0xDFFF)[:64]
    return f"telegram:{clean or 'unknown'}"


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
