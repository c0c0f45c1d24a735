"""Telegram updates: button presses and commands, by webhook or by long polling.

`CallbackHandler.handle_update(update)` is the one place that acts on an update:
- only the configured chats (TELEGRAM_CHAT_ID and the chats the channel map routes to; a private
  chat with a user of TELEGRAM_ALLOWED_USER_IDS) and (when set) the allowed user ids may act; anyone
  else gets a polite refusal;
- a message with a command (`/status`, `/alerts P0`, `/ack 42`, `/mute exchange=upbit 2h`, ...;
  `/status@bot` in groups) is parsed (`notify.commands`), run by the operator console
  (`notify.operator`), and its answer queued in the outbox (kind `reply`) as a reply to the command,
  in its forum topic, paced with everything else sent to that chat;
- `ack:<id>` / `pa:<message>` (Ack all) -> the actions' acknowledge, which records the ack and queues
  the message edits through the outbox (paced like every other message); `un:<id>` (Unack) gives an
  acknowledged alert back (its reminders and escalation start again);
- `sil:<id>:1h|24h` / `ps:<message>:1h` -> Alertmanager API v2 silences with matchers from each
  alert's identifying labels, recorded in the history;
- every callback query is answered (Telegram shows a spinner until it is), whatever happened.

- the service message of a group upgraded to a supergroup (`migrate_to_chat_id`,
  `migrate_from_chat_id`) teaches the channel the move; commands and buttons from the new chat count
  as from the configured one.

`telegram_blueprint(handler, secret)` serves `POST /telegram/webhook` (checked against
`X-Telegram-Bot-Api-Secret-Token`); `LongPoller` runs getUpdates in a thread when there is no public
URL (the default for a local stack). Telegram allows one getUpdates consumer per bot (a second one
makes it answer 409 to the first), so with several receivers on one database one polls at a time:
the holder of the `telegram-poll` lease, which a renewer thread keeps while polls are in flight. The
next offset is stored after each update, so the replica that takes over when the holder dies starts
where it stopped: no update lost, none handled twice (one handled just before a crash may be again;
its answer's dedupe key queues nothing twice).
"""
from __future__ import annotations

import hmac
import html
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, Protocol

from flask import Blueprint, jsonify, request

from ....background import Periodic, process_owner_id
from ...commands import COMMANDS, Command, CommandError, clean_text, parse_command
from ..base import DeliveryError
from .client import BotAPI, TelegramClient
from .format import parse_callback_data
from .state import TelegramState

__all__ = ["Actions", "CallbackHandler", "LongPoller", "telegram_blueprint", "BotSetup", "Replies", "Console"]

log = logging.getLogger("d76.notify.telegram")
SILENCE_DURATIONS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24)}


class Acked(Protocol):
    @property
    def changed(self) -> bool: ...
    @property
    def alert(self) -> Mapping[str, Any]: ...


class Actions(Protocol):
    """What a button press may do (`webhook_receiver.notify.actions.AlertActions`)."""

    def acknowledge(self, alert_id: int, by: str, comment: str | None = None) -> Acked: ...
    def acknowledge_message(self, message_ref: int, by: str) -> int: ...
    def unacknowledge(self, alert_id: int, by: str, comment: str | None = None) -> Acked: ...
    def silence(self, alert_id: int, duration: timedelta, by: str, comment: str | None = None) -> str: ...
    def silence_message(self, message_ref: int, duration: timedelta, by: str) -> int: ...


class ConsoleAnswer(Protocol):
    """A command's answer (`webhook_receiver.notify.operator.Answer`): Telegram HTML, its buttons, and
    the query a paged list was made from."""

    @property
    def text(self) -> str: ...
    @property
    def reply_markup(self) -> dict[str, Any] | None: ...
    @property
    def query(self) -> dict[str, Any] | None: ...


class Console(Protocol):
    """Runs a parsed command (`webhook_receiver.notify.operator.OperatorConsole`)."""

    def run(self, cmd: Command, who: str) -> ConsoleAnswer: ...
    def alerts_page(self, query: dict[str, Any], page: int) -> ConsoleAnswer: ...


class Replies(Protocol):
    """Where answers go: queued in the outbox for the chat's lane, and found again by message."""

    def queue(self, chat_id: str, payload: dict[str, Any], dedupe_key: str) -> None: ...
    def query_of(self, chat_id: str, message_id: int) -> dict[str, Any] | None: ...


REFUSAL = ("Sorry, this bot only takes commands from its operators. If you are one, ask for your "
           "Telegram user id ({user}) to be added to TELEGRAM_ALLOWED_USER_IDS.")
QUERY_LOOKUPS = 20
REFUSAL_EVERY = 60.0  # seconds: one refusal per chat and user in that time, however often they try


class CallbackHandler:
    def __init__(self, actions: Actions, telegram: BotAPI, *,
                 chat_id: str | None, allowed_user_ids: frozenset[int] = frozenset(),
                 action_errors: tuple[type[Exception], ...] = (), chats: Sequence[str] = (),
                 console: Console | None = None, replies: Replies | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 moved_from: Callable[[str], str | None] | None = None,
                 on_chat_moved: Callable[[str, str], None] | None = None) -> None:
        """`moved_from(chat)`: the configured chat that became `chat` (a supergroup), if any;
        `on_chat_moved(old, new)`: what to do when an update says a chat moved."""
        self.actions = actions
        self.telegram = telegram
        self.action_errors = action_errors
        self.chat_id = str(chat_id) if chat_id else None
        self.chats = frozenset(str(c) for c in (*chats, *([self.chat_id] if self.chat_id else [])))
        self.allowed_user_ids = allowed_user_ids
        self.console = console
        self.replies = replies
        self.bot_username: str | None = None  # learnt from getMe (BotSetup): `/status@<this>` is ours
        self.clock = clock
        self.moved_from = moved_from
        self.on_chat_moved = on_chat_moved
        self._refused: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def allowed(self, user_id: Any, chat_id: Any, chat_type: Any = None) -> bool:
        user_ok = isinstance(user_id, int) and user_id in self.allowed_user_ids
        if self.allowed_user_ids and not user_ok:
            return False
        if self.chats and str(chat_id) not in self.chats and not self._moved_here(chat_id):
            # a private chat with the bot: only for a user named in TELEGRAM_ALLOWED_USER_IDS
            return chat_type == "private" and user_ok and str(chat_id) == str(user_id)
        return True

    def _moved_here(self, chat_id: Any) -> bool:
        """Whether `chat_id` is what a configured chat became (a group upgraded to a supergroup)."""
        return self.moved_from is not None and self.moved_from(str(chat_id)) in self.chats

    def _chat_migration(self, msg: dict[str, Any]) -> bool:
        """A service message saying a configured group became a supergroup: learn the move."""
        chat_id = _obj(msg.get("chat")).get("id")
        to, from_ = msg.get("migrate_to_chat_id"), msg.get("migrate_from_chat_id")
        pair = (chat_id, to) if to is not None else (from_, chat_id) if from_ is not None else None
        if pair is None:
            return False
        old, new = pair
        if not all(isinstance(x, (int, str)) and not isinstance(x, bool) for x in pair) or str(old) not in self.chats:
            return True
        if self.on_chat_moved is not None:
            self.on_chat_moved(str(old), str(new))
        return True

    def handle_update(self, update: object) -> str | None:
        """Act on one update; returns the text shown to the user (None for updates not for us)."""
        if not isinstance(update, dict):
            return None
        msg = update.get("message")
        if isinstance(msg, dict):
            if self._chat_migration(msg):
                return None
            return self._message(msg)
        cq = update.get("callback_query")
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

    def _act(self, cq: dict[str, Any]) -> str:
        user = _obj(cq.get("from"))
        message = _obj(cq.get("message"))
        chat = _obj(message.get("chat"))
        chat_id = chat.get("id")
        if not self.allowed(user.get("id"), chat_id, chat.get("type")):
            log.warning("callback refused", extra={"fields": {"user_id": user.get("id"), "chat_id": chat_id}})
            return "You are not allowed to act on these alerts"
        parsed = parse_callback_data(str(cq.get("data") or "") if isinstance(cq.get("data"), str) else "")
        if parsed is None:
            return "Unknown button"
        who = _who(user)
        if parsed.action in ("alerts_page", "unsilence", "unmute"):
            return self._console_button(parsed, who, str(chat_id), message, str(cq.get("id")))
        if parsed.action == "ack":
            try:
                result = self.actions.acknowledge(parsed.target, who)
            except LookupError:
                return f"Alert {parsed.target} is not in the history"
            if not result.changed:
                return f"Already acknowledged by {result.alert.get('acknowledged_by')}"
            return "Acknowledged"
        if parsed.action == "unack":
            try:
                result = self.actions.unacknowledge(parsed.target, who)
            except LookupError:
                return f"Alert {parsed.target} is not in the history"
            return "Unacknowledged: nobody owns it now" if result.changed else "It was not acknowledged"
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


    # buttons of command answers ---------------------------------------------------------------------
    def _console_button(self, parsed: Any, who: str, chat_id: str, message: dict[str, Any], cq_id: str) -> str:
        if self.console is None or self.replies is None:
            return "Commands are not enabled here"
        if parsed.action == "alerts_page":
            mid = message.get("message_id")
            query = None
            # the answer's row records its message id just after Telegram answered: a button
            # pressed at once may come before that commit, so look a few times
            for _ in range(QUERY_LOOKUPS):
                if not isinstance(mid, int):
                    break
                query = self.replies.query_of(chat_id, mid)
                if query is not None:
                    break
                time.sleep(0.1)
            if not isinstance(query, dict) or not isinstance(query.get("query"), dict):
                return "That list is too old: send /alerts again"
            answer = self.console.alerts_page(query["query"], parsed.target)
            self.replies.queue(chat_id, {"text": answer.text, "reply_markup": answer.reply_markup,
                                         "edit_message_id": mid, "thread_id": _thread(message)},
                               f"reply:{chat_id}:{mid}:page:{cq_id}")
            return f"Page {parsed.target}"
        cmd = Command("unsilence", silence_id=parsed.arg) if parsed.action == "unsilence" else \
            Command("unmute", mute_id=parsed.target)
        answer = self.console.run(cmd, who)
        self.replies.queue(chat_id, {"text": answer.text, "thread_id": _thread(message)},
                           f"reply:{chat_id}:{message.get('message_id')}:{parsed.action}:{cq_id}")
        return "Done" if answer.text.startswith("🔔") else "See the answer in the chat"

    # commands ---------------------------------------------------------------------------------------------
    def _message(self, msg: dict[str, Any]) -> str | None:
        text = msg.get("text")
        if not isinstance(text, str) or not text.startswith("/"):
            return None
        chat = _obj(msg.get("chat"))
        chat_id, user = chat.get("id"), _obj(msg.get("from"))
        mid = msg.get("message_id")
        if not isinstance(chat_id, (int, str)) or isinstance(chat_id, bool) or not isinstance(mid, int):
            return None
        chat_key = str(chat_id)
        try:
            cmd = parse_command(text, self.bot_username)
            error = None
        except CommandError as exc:
            cmd, error = None, str(exc)
        if cmd is None and error is None:
            return None  # not a command, or one for another bot
        payload: dict[str, Any] = {"reply_to": mid, "thread_id": _thread(msg)}
        if not self.allowed(user.get("id"), chat_id, chat.get("type")):
            log.warning("command refused", extra={"fields": {
                "user_id": user.get("id"), "chat_id": chat_key, "command": cmd.name if cmd else None}})
            if not self._may_refuse(chat_key, str(user.get("id"))):
                return None
            answer_text = REFUSAL.format(user=user.get("id") if isinstance(user.get("id"), int) else "?")
            self._queue(chat_key, {**payload, "text": _html(answer_text)}, f"refuse:{chat_key}:{mid}")
            return answer_text
        if self.console is None:
            return None
        if error is not None or cmd is None:
            self._queue(chat_key, {**payload, "text": "❓ " + _html(error or "")}, f"reply:{chat_key}:{mid}")
            return error
        who = _who(user)
        uid, uname = user.get("id"), user.get("username")
        cmd = replace(cmd, user_id=uid if isinstance(uid, int) and not isinstance(uid, bool) else None,
                      username=uname if isinstance(uname, str) else None)  # who sent it (/oncall take)
        try:
            answer = self.console.run(cmd, who)
        except self.action_errors as exc:
            answer_text = f"❌ Could not do that: {_html(str(exc)[:300])}"
            self._queue(chat_key, {**payload, "text": answer_text}, f"reply:{chat_key}:{mid}")
            return answer_text
        log.info("command", extra={"fields": {"command": cmd.name, "by": who, "chat_id": chat_key}})
        self._queue(chat_key, {**payload, "text": answer.text, "reply_markup": answer.reply_markup,
                               "query": answer.query}, f"reply:{chat_key}:{mid}")
        return answer.text

    def _queue(self, chat_id: str, payload: dict[str, Any], key: str) -> None:
        if self.replies is None:
            return
        self.replies.queue(chat_id, {k: v for k, v in payload.items() if v is not None}, key)

    def _may_refuse(self, chat_id: str, user_id: str) -> bool:
        now = self.clock()
        with self._lock:
            if len(self._refused) > 1000:
                self._refused = {k: t for k, t in self._refused.items() if now - t < REFUSAL_EVERY}
            last = self._refused.get((chat_id, user_id))
            if last is not None and now - last < REFUSAL_EVERY:
                return False
            self._refused[(chat_id, user_id)] = now
            return True


def _html(text: str) -> str:
    return html.escape(clean_text(text), quote=False)


def _thread(msg: dict[str, Any]) -> int | None:
    """The forum topic a message is in (answers go to the same topic)."""
    t = msg.get("message_thread_id")
    if msg.get("is_topic_message") and isinstance(t, int) and not isinstance(t, bool) and 0 < t < 2**31:
        return t
    return None


def _obj(v: Any) -> dict[str, Any]:
    """A JSON object from an update, or {} when the field is missing or of another type (an update is
    untrusted input: wrong types are ignored, never a 500)."""
    return v if isinstance(v, dict) else {}


def _who(user: dict[str, Any]) -> str:
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


class BotSetup:
    """At start, off the request path: learn the bot's username (commands in groups may be addressed
    `/status@<username>`) and register the command list (setMyCommands). Retried a few times; a
    failure is logged, never fatal (the commands work all the same)."""

    def __init__(self, client: TelegramClient, handler: CallbackHandler, register_commands: bool = True,
                 attempts: int = 5) -> None:
        self.client = client
        self.handler = handler
        self.register_commands = register_commands
        self.attempts = attempts
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.done = threading.Event()

    def run_once(self) -> None:
        me = self.client.get_me()
        name = me.get("username") if isinstance(me, dict) else None
        if isinstance(name, str) and name:
            self.handler.bot_username = name
        if self.register_commands:
            self.client.set_my_commands(list(COMMANDS))

    def _run(self) -> None:
        for attempt in range(self.attempts):
            try:
                self.run_once()
                log.info("telegram bot ready", extra={"fields": {
                    "username": self.handler.bot_username, "commands": len(COMMANDS) if self.register_commands else 0}})
                break
            except DeliveryError as exc:
                wait = exc.retry_after if exc.retry_after is not None else min(30.0, 2.0 ** attempt)
                log.warning("telegram setup failed", extra={"fields": {"error": str(exc), "retry_in_s": wait}})
                if exc.permanent or self._stop.wait(wait):
                    break
        self.done.set()

    def start(self) -> BotSetup:
        self._thread = threading.Thread(target=self._run, name="d76-telegram-setup", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)


class LongPoller:
    """getUpdates loop in a daemon thread (`Periodic`: the next poll at once, or after a failure's
    back-off); confirms each update by advancing the offset.

    With `state` (the receiver's database), it polls only while it holds the `telegram-poll` lease
    (`lease_seconds`; renewed every third of it by a second thread, so a long poll does not let it
    lapse) and stores the next offset after each update; without, it polls alone with the offset in
    memory."""

    def __init__(self, client: TelegramClient, handler: CallbackHandler, poll_timeout: int = 25, *,
                 state: TelegramState | None = None, lease_seconds: float = 10.0, owner: str | None = None) -> None:
        self.client = client
        self.handler = handler
        self.poll_timeout = poll_timeout
        self.state = state
        self.lease_seconds = lease_seconds
        self.owner = owner or process_owner_id()
        self.offset: int | None = None
        self.holding = state is None
        self._failures = 0
        self._wait = 0.0  # before the next poll
        self._worker: Periodic | None = None
        self._renewer: Periodic | None = None
        self._lock = threading.Lock()

    def start(self) -> LongPoller:
        self._failures, self._wait = 0, 0.0
        if self.state is not None:
            self._renewer = Periodic("telegram-poll-lease", self._renew, lambda: self.lease_seconds / 3, log).start()
        self._worker = Periodic("telegram-poller", self._step, lambda: self._wait, log).start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        if self._worker is not None:
            self._worker.stop(timeout)  # a poll in flight ends by itself within poll_timeout
            self._worker = None
        if self._renewer is not None:
            self._renewer.stop(timeout)
            self._renewer = None
        if self.state is not None and self.holding:
            self.holding = False
            try:  # hand over at once rather than when the lease runs out
                self.state.release_poll_lease(self.owner)
            except Exception as exc:
                log.warning("telegram polling lease not released", extra={"fields": {"error": type(exc).__name__}})

    # the lease ------------------------------------------------------------------------------------------
    def _acquire(self) -> bool:
        assert self.state is not None
        try:
            return self.state.acquire_poll_lease(self.owner, self.lease_seconds)
        except Exception as exc:  # storage down: nobody can take it; poll again when it is back
            log.warning("telegram polling lease unavailable", extra={"fields": {"error": type(exc).__name__}})
            return False

    def _renew(self) -> None:
        """Keep the lease while holding it (a poll may be in flight for poll_timeout seconds)."""
        with self._lock:
            if self.holding and not self._acquire():
                self.holding = False
                log.warning("telegram polling lease lost", extra={"fields": {"owner": self.owner}})

    def _hold(self) -> bool:
        """Whether this process polls now: it holds the lease, or just took it (then it starts from
        the stored offset: where the previous holder stopped)."""
        if self.state is None:
            return True
        with self._lock:
            if self.holding:
                return True
            if not self._acquire():
                return False
            try:
                stored = self.state.poll_offset(self.client.bot_id)
            except Exception as exc:  # without the offset we might answer updates again: wait for storage
                log.warning("telegram poll offset unavailable", extra={"fields": {"error": type(exc).__name__}})
                return False
            self.offset = max(filter(None, (self.offset, stored)), default=None)
            self.holding = True
        log.info("telegram polling taken", extra={"fields": {"owner": self.owner, "offset": self.offset}})
        return True

    # polling ----------------------------------------------------------------------------------------------
    def poll_once(self) -> int:
        updates = self.client.get_updates(self.offset, timeout=self.poll_timeout)
        for u in updates:
            self.offset = int(u["update_id"]) + 1
            try:
                self.handler.handle_update(u)
            except Exception:
                log.exception("telegram update failed", extra={"fields": {"update_id": u.get("update_id")}})
            self._save_offset()
        return len(updates)

    def _save_offset(self) -> None:
        if self.state is None or self.offset is None:
            return
        try:
            self.state.save_offset(self.client.bot_id, self.offset)
        except Exception as exc:  # the next holder may handle these updates again (answers are deduplicated)
            log.warning("telegram poll offset not stored", extra={"fields": {"error": type(exc).__name__}})

    def _step(self) -> None:
        if not self._hold():
            self._wait = self.lease_seconds / 3  # another receiver polls; look again
            return
        try:
            self.poll_once()
            self._failures, self._wait = 0, 0.0
        except DeliveryError as exc:
            self._failures += 1
            self._wait = exc.retry_after if exc.retry_after is not None else min(30.0, 0.5 * 2 ** self._failures)
            if exc.status == 409:
                log.warning("getUpdates refused: another process polls with this bot token (another deployment "
                            "or a webhook set for the bot?)", extra={"fields": {"retry_in_s": self._wait}})
            else:
                log.warning("getUpdates failed", extra={"fields": {"error": str(exc), "retry_in_s": self._wait}})
        except Exception:
            log.exception("long polling iteration failed")
            self._wait = 1.0
