"""A fake Telegram Bot API on loopback that checks what the real one checks.

Speaks ``POST /bot<token>/<method>`` with JSON or form bodies and answers ``{"ok": ..., "result": ...}``
like api.telegram.org. Implemented methods: sendMessage, editMessageText, answerCallbackQuery,
getUpdates (long polling with `offset`/`timeout`), getMe. It validates the things our client can get
wrong: a wrong token (401), HTML that does not parse (400 "can't parse entities"), text longer than
4096 characters after entity parsing (400 "message is too long"), callback_data over 64 bytes
(400 "BUTTON_DATA_INVALID"), editing an unknown message (400), a chat that blocked the bot (403).

Tests push updates with `press_button(...)` / `push_update(...)` and read `messages`, `edits`,
`callback_answers`. Faults (429 with retry_after, 5xx, timeouts) come from `FakeHTTPServer.inject`;
`rate_limit(retry_after)` is a shortcut for a realistic 429.
"""
from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from werkzeug.wrappers import Request, Response

from .base import FakeHTTPServer, Fault, RecordedRequest

__all__ = ["FakeTelegram", "SentMessage", "parse_telegram_html", "TelegramHTMLError"]

MAX_TEXT = 4096
# Tags Telegram's HTML parse mode accepts.
ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                "tg-spoiler", "span", "blockquote", "tg-emoji"}


class TelegramHTMLError(ValueError):
    pass


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in ALLOWED_TAGS:
            raise TelegramHTMLError(f"Unsupported start tag \"{tag}\"")
        if tag == "a" and not any(k == "href" for k, _ in attrs):
            raise TelegramHTMLError("a tag without href")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise TelegramHTMLError(f"Unmatched end tag \"{tag}\"")
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_telegram_html(text: str) -> str:
    """Return the visible text of a Telegram HTML message, or raise TelegramHTMLError."""
    # Telegram refuses a bare '<' or '&' that does not start a tag/entity; HTMLParser is lenient, so check.
    for i, ch in enumerate(text):
        if ch == "&":
            semi = text.find(";", i)
            if semi == -1 or semi - i > 10:
                raise TelegramHTMLError(f"Unescaped '&' at byte offset {i}")
        elif ch == "<":
            nxt = text[i + 1:i + 2]
            if not (nxt.isalpha() or nxt == "/"):
                raise TelegramHTMLError(f"Unexpected '<' at byte offset {i}")
    p = _Parser()
    p.feed(text)
    p.close()
    if p.stack:
        raise TelegramHTMLError(f"Can't find end tag corresponding to start tag \"{p.stack[-1]}\"")
    return "".join(p.text)


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


@dataclass
class SentMessage:
    chat_id: str
    message_id: int
    text: str
    parse_mode: str | None
    reply_markup: dict | None
    at: float
    edits: list[dict] = field(default_factory=list)
    params: dict = field(default_factory=dict)  # everything else the call carried (thread, reply, quiet)
    sent_text: str = ""  # the text as sendMessage delivered it (`text` follows later edits)

    @property
    def visible_text(self) -> str:
        return parse_telegram_html(self.text) if self.parse_mode == "HTML" else self.text

    @property
    def sent_visible_text(self) -> str:
        """What the chat showed when the message arrived, before any edit."""
        text = self.sent_text or self.text
        return parse_telegram_html(text) if self.parse_mode == "HTML" else text


class FakeTelegram(FakeHTTPServer):
    """Fake Bot API. `api_url` is what TELEGRAM_API_URL should be set to."""

    def __init__(self, token: str = "123456:TEST-TOKEN", bot_username: str = "d76_test_bot") -> None:
        super().__init__()
        self.token = token
        self.bot_username = bot_username
        self.messages: list[SentMessage] = []
        self.edits: list[dict] = []
        self.callback_answers: list[dict] = []
        self.blocked_chats: set[str] = set()
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[str, itertools.count] = {}
        self._callback_ids = itertools.count(1000)
        self.limits: tuple[float, int, float] | None = None
        self._chat_calls: dict[str, list[float]] = {}
        self._all_calls: list[float] = []
        self.rate_limited: list[dict] = []  # every 429 the enforced limits gave: {"chat_id", "method", "at"}

    def enforce_limits(self, min_interval: float = 1.0, per_minute: int = 20, global_per_second: float = 30.0,
                       tolerance: float = 0.05) -> None:
        """Answer 429 with `retry_after`, as Telegram does, to calls past its limits: about one message
        a second per chat (`min_interval`, minus a `tolerance` for network jitter), `per_minute` per
        (group) chat, `global_per_second` for the bot in all. sendMessage, editMessageText and sendPhoto count."""
        with self._lock:
            self.limits = (min_interval - tolerance, per_minute, global_per_second)

    def _limit_check(self, method: str, chat_id: str) -> Response | None:
        if self.limits is None or method not in ("sendMessage", "editMessageText", "sendPhoto"):
            return None
        min_gap, per_minute, per_second = self.limits
        now = time.monotonic()
        with self._lock:
            calls = [t for t in self._chat_calls.get(chat_id, []) if t > now - 60]
            self._all_calls = [t for t in self._all_calls if t > now - 1]
            wait = 0.0
            if calls and now - calls[-1] < min_gap:
                wait = max(wait, min_gap - (now - calls[-1]))
            if len(calls) >= per_minute:
                wait = max(wait, calls[-per_minute] + 60 - now)
            if per_second and len(self._all_calls) >= per_second:
                wait = max(wait, self._all_calls[-int(per_second)] + 1 - now)
            if wait > 0:
                self.rate_limited.append({"chat_id": chat_id, "method": method, "at": now})
                retry_after = max(1, int(wait + 0.999))
                return self._error(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)
            calls.append(now)
            self._chat_calls[chat_id] = calls
            self._all_calls.append(now)
        return None

    @property
    def api_url(self) -> str:
        return self.url

    # test helpers ----------------------------------------------------------------------------
    def rate_limit(self, retry_after: int = 1, times: int = 1, method: str = "sendMessage") -> None:
        """Answer the next `times` calls of `method` with a real-looking 429."""
        self.inject(Fault(status=429, times=times, path_contains=method, body={
            "ok": False, "error_code": 429,
            "description": f"Too Many Requests: retry after {retry_after}",
            "parameters": {"retry_after": retry_after}}))

    def block_chat(self, chat_id: str | int) -> None:
        with self._lock:
            self.blocked_chats.add(str(chat_id))

    def push_update(self, update: dict) -> int:
        """Queue an update for getUpdates; returns its update_id."""
        with self._lock:
            update = dict(update)
            update["update_id"] = next(self._update_ids)
            self._updates.append(update)
            self._lock.notify_all()
            return update["update_id"]

    def make_callback_update(self, data: str, *, chat_id: str | int, message_id: int,
                             user_id: int = 42, username: str = "operator") -> dict:
        """A callback_query update as Telegram sends it when a button is pressed (no update_id)."""
        msg = self.find_message(chat_id, message_id)
        return {"callback_query": {
            "id": str(next(self._callback_ids)),
            "from": {"id": user_id, "is_bot": False, "first_name": username, "username": username},
            "message": {"message_id": message_id, "date": int(time.time()),
                        "chat": {"id": int(chat_id) if str(chat_id).lstrip("-").isdigit() else chat_id,
                                 "type": "group"},
                        "text": msg.visible_text if msg else ""},
            "chat_instance": "1",
            "data": data}}

    def press_button(self, data: str, *, chat_id: str | int, message_id: int,
                     user_id: int = 42, username: str = "operator") -> int:
        """Simulate a user pressing an inline button: queue the update for getUpdates."""
        return self.push_update(self.make_callback_update(
            data, chat_id=chat_id, message_id=message_id, user_id=user_id, username=username))

    def find_message(self, chat_id: str | int, message_id: int) -> SentMessage | None:
        with self._lock:
            for m in self.messages:
                if m.chat_id == str(chat_id) and m.message_id == message_id:
                    return m
        return None

    def wait_messages(self, n: int, timeout: float = 10.0) -> list[SentMessage]:
        return self.wait_for(lambda: list(self.messages) if len(self.messages) >= n else None, timeout)

    def wait_edits(self, n: int, timeout: float = 10.0) -> list[dict]:
        return self.wait_for(lambda: list(self.edits) if len(self.edits) >= n else None, timeout)

    def wait_callback_answers(self, n: int, timeout: float = 10.0) -> list[dict]:
        return self.wait_for(lambda: list(self.callback_answers) if len(self.callback_answers) >= n else None,
                             timeout)

    def method_calls(self, method: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/" + method)]

    # protocol --------------------------------------------------------------------------------
    @staticmethod
    def _error(code: int, description: str, **parameters: Any) -> Response:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return Response(json.dumps(body), status=code, mimetype="application/json")

    @staticmethod
    def _ok(result: Any) -> Response:
        return Response(json.dumps({"ok": True, "result": result}), mimetype="application/json")

    def handle(self, request: Request, recorded: RecordedRequest) -> Response:
        parts = request.path.strip("/").split("/")
        if len(parts) != 2 or not parts[0].startswith("bot"):
            return self._error(404, "Not Found")
        if parts[0][3:] != self.token:
            return self._error(401, "Unauthorized")
        method = parts[1]
        params = dict(recorded.params)
        for key in ("reply_markup",):
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    return self._error(400, f"Bad Request: can't parse {key} JSON object")
        handler = getattr(self, "_m_" + method, None)
        if handler is None:
            return self._error(404, "Not Found")
        limited = self._limit_check(method, str(params.get("chat_id", "")))
        if limited is not None:
            return limited
        return handler(params)

    def _check_text(self, params: dict) -> tuple[str, str | None] | Response:
        text = params.get("text")
        if not text:
            return self._error(400, "Bad Request: message text is empty")
        mode = params.get("parse_mode")
        visible = text
        if mode == "HTML":
            try:
                visible = parse_telegram_html(text)
            except TelegramHTMLError as exc:
                return self._error(400, f"Bad Request: can't parse entities: {exc}")
        if utf16_len(visible) > MAX_TEXT:
            return self._error(400, "Bad Request: message is too long")
        if not visible.strip():
            return self._error(400, "Bad Request: message text is empty")
        return text, mode

    def _check_markup(self, markup: Any) -> Response | None:
        if markup is None:
            return None
        rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
        if not isinstance(rows, list):
            return self._error(400, "Bad Request: can't parse inline keyboard button")
        for row in rows:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not (1 <= len(data.encode()) <= 64):
                    return self._error(400, "Bad Request: BUTTON_DATA_INVALID")
                if "text" not in button:
                    return self._error(400, "Bad Request: can't parse inline keyboard button: text is missing")
        return None

    def _m_getMe(self, params: dict) -> Response:
        return self._ok({"id": 1, "is_bot": True, "first_name": "d76", "username": self.bot_username})

    def _m_sendMessage(self, params: dict) -> Response:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            return self._error(400, "Bad Request: chat_id is empty")
        chat_id = str(chat_id)
        if chat_id in self.blocked_chats:
            return self._error(403, "Forbidden: bot was blocked by the user")
        checked = self._check_text(params)
        if isinstance(checked, Response):
            return checked
        bad = self._check_markup(params.get("reply_markup"))
        if bad is not None:
            return bad
        text, mode = checked
        with self._lock:
            counter = self._message_ids.setdefault(chat_id, itertools.count(1))
            msg = SentMessage(chat_id=chat_id, message_id=next(counter), text=text, parse_mode=mode,
                              reply_markup=params.get("reply_markup"), at=time.monotonic(), sent_text=text,
                              params={k: v for k, v in params.items()
                                      if k not in ("chat_id", "text", "parse_mode", "reply_markup")})
            self.messages.append(msg)
        return self._ok({"message_id": msg.message_id, "date": int(time.time()),
                         "chat": {"id": chat_id, "type": "group"}, "text": msg.visible_text})

    def _m_editMessageText(self, params: dict) -> Response:
        chat_id = str(params.get("chat_id", ""))
        try:
            message_id = int(params.get("message_id", 0))
        except (TypeError, ValueError):
            return self._error(400, "Bad Request: message_id is invalid")
        if chat_id in self.blocked_chats:
            return self._error(403, "Forbidden: bot was blocked by the user")
        msg = self.find_message(chat_id, message_id)
        if msg is None:
            return self._error(400, "Bad Request: message to edit not found")
        checked = self._check_text(params)
        if isinstance(checked, Response):
            return checked
        bad = self._check_markup(params.get("reply_markup"))
        if bad is not None:
            return bad
        text, mode = checked
        if text == msg.text and params.get("reply_markup") == msg.reply_markup:
            return self._error(400, "Bad Request: message is not modified: specified new message content "
                                    "and reply markup are exactly the same")
        edit = {"chat_id": chat_id, "message_id": message_id, "text": text, "parse_mode": mode,
                "reply_markup": params.get("reply_markup"), "at": time.monotonic()}
        with self._lock:
            msg.edits.append(edit)
            msg.text, msg.parse_mode, msg.reply_markup = text, mode, params.get("reply_markup")
            self.edits.append(edit)
        return self._ok({"message_id": message_id, "chat": {"id": chat_id}, "text": msg.visible_text})

    def _m_answerCallbackQuery(self, params: dict) -> Response:
        if not params.get("callback_query_id"):
            return self._error(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        with self._lock:
            self.callback_answers.append(dict(params))
        return self._ok(True)

    def _m_getUpdates(self, params: dict) -> Response:
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 50.0)
        deadline = time.monotonic() + timeout
        with self._lock:
            if offset:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while True:
                ready = [u for u in self._updates if u["update_id"] >= offset]
                left = deadline - time.monotonic()
                if ready or left <= 0 or self._stopping.is_set():
                    break
                self._lock.wait(min(left, 0.2))
            limit = int(params.get("limit") or 100)
            return self._ok(ready[:limit])
