"""A fake Telegram Bot API on loopback that checks what the real one checks.

Speaks ``POST /bot<token>/<method>`` with JSON, form or multipart bodies and answers
``{"ok": ..., "result": ...}`` like api.telegram.org. Implemented methods: sendMessage, sendPhoto
(multipart upload), editMessageText, answerCallbackQuery, getUpdates (long polling with
`offset`/`timeout`), getMe, setMyCommands. It validates the things our client can get wrong: a wrong
token (401), HTML that does not parse (400 "can't parse entities"), text longer than 4096 characters
after entity parsing (400 "message is too long"), a caption over 1024, callback_data over 64 bytes
(400 "BUTTON_DATA_INVALID"), editing an unknown message (400), a chat that blocked the bot (403), a
photo that is not a whole PNG (400 "IMAGE_PROCESS_FAILED"), a `message_thread_id` that is not a topic of
that forum chat (400 "message thread not found"), command lists Telegram would refuse.

Tests push updates with `press_button(...)`, `send_command(...)` / `push_update(...)` and read
`messages`, `photos`, `edits`, `callback_answers`, `commands`. Forum topics are made with
`create_topic(chat)`.

Telegram's edge cases, as it answers them:
- `migrate_chat(old, new)`: the group `old` became the supergroup `new`; every call naming `old`
  answers 400 "group chat was upgraded to a supergroup chat" with `parameters.migrate_to_chat_id`
  (and, with `announce=True`, the service messages `migrate_to_chat_id` / `migrate_from_chat_id` are
  queued for getUpdates);
- `delete_message(chat, id)` / `make_uneditable(chat, id)`: editing it answers 400 "message to edit
  not found" / "message can't be edited";
- a getUpdates arriving while another is waiting ends the waiting one with 409 "Conflict:
  terminated by other getUpdates request" (recorded in `conflicts`), as Telegram does with two
  consumers of one bot. Faults (429 with retry_after, 5xx, timeouts) come from `FakeHTTPServer.inject`;
`rate_limit(retry_after)` is a shortcut for a realistic 429, `enforce_limits()` answers 429 to every
call past Telegram's per-chat and per-bot limits (sendMessage, editMessageText and sendPhoto count).
"""
from __future__ import annotations

import itertools
import json
import re
import struct
import time
import zlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from werkzeug.wrappers import Request, Response

from .base import FakeHTTPServer, Fault, RecordedRequest

__all__ = ["FakeTelegram", "SentMessage", "SentPhoto", "parse_telegram_html", "TelegramHTMLError", "check_png"]

MAX_TEXT = 4096
MAX_CAPTION = 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")


def check_png(data: bytes) -> tuple[int, int]:
    """(width, height) of a whole, well-formed PNG; ValueError otherwise (signature, every chunk's
    CRC, IHDR first, IDAT that inflates, IEND last)."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG (signature)")
    pos, chunks, idat = len(PNG_SIGNATURE), [], b""
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError("truncated chunk header")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            raise ValueError("truncated chunk")
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"bad CRC in {kind!r}")
        chunks.append(kind)
        if kind == b"IDAT":
            idat += body
        pos += 12 + length
    if not chunks or chunks[0] != b"IHDR" or chunks[-1] != b"IEND" or b"IDAT" not in chunks:
        raise ValueError("chunks out of order (IHDR first, IDAT, IEND last)")
    width, height = struct.unpack(">II", data[16:24])
    if not (0 < width <= 10000 and 0 < height <= 10000):
        raise ValueError(f"bad size {width}x{height}")
    try:
        zlib.decompress(idat)
    except zlib.error as exc:
        raise ValueError(f"image data does not inflate: {exc}") from None
    return width, height
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


@dataclass
class SentPhoto:
    chat_id: str
    message_id: int
    png: bytes
    width: int
    height: int
    caption: str | None
    at: float
    params: dict = field(default_factory=dict)  # reply_parameters, message_thread_id, disable_notification

    @property
    def reply_to(self) -> int | None:
        rp = self.params.get("reply_parameters")
        return int(rp["message_id"]) if isinstance(rp, dict) and "message_id" in rp else None


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
        self.photos: list[SentPhoto] = []
        self.commands: list[dict] | None = None  # the list last registered with setMyCommands
        self.forum_topics: dict[str, set[int]] = {}
        self._topic_ids = itertools.count(100)
        self._user_message_ids = itertools.count(10_000)  # ids of messages users "send"
        self.migrated: dict[str, str] = {}  # old chat id -> the supergroup it became
        self.deleted: set[tuple[str, int]] = set()
        self.uneditable: set[tuple[str, int]] = set()
        self.conflicts: list[dict] = []  # every getUpdates ended by a newer one (409)
        self._poll_generation = 0

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

    def create_topic(self, chat_id: str | int) -> int:
        """Make `chat_id` a forum (supergroup with topics) and open a topic in it; returns its
        message_thread_id."""
        with self._lock:
            tid = next(self._topic_ids)
            self.forum_topics.setdefault(str(chat_id), set()).add(tid)
            return tid

    def make_command_update(self, text: str, *, chat_id: str | int, user_id: int = 42, username: str = "operator",
                            thread_id: int | None = None, chat_type: str = "supergroup") -> dict:
        """A user's message (a command) as getUpdates / the webhook deliver it."""
        chat: dict[str, Any] = {"id": int(chat_id) if str(chat_id).lstrip("-").isdigit() else chat_id,
                                "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = username
        msg: dict[str, Any] = {"message_id": next(self._user_message_ids), "date": int(time.time()), "chat": chat,
                               "from": {"id": user_id, "is_bot": False, "first_name": username,
                                        "username": username},
                               "text": text}
        if text.startswith("/"):
            cmd_len = len(text.split()[0])
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": cmd_len}]
        if thread_id is not None:
            msg["message_thread_id"] = thread_id
            msg["is_topic_message"] = True
        return {"message": msg}

    def send_command(self, text: str, *, chat_id: str | int, user_id: int = 42, username: str = "operator",
                     thread_id: int | None = None, chat_type: str = "supergroup") -> dict:
        """Simulate a user typing a command: queue the update for getUpdates; returns the message."""
        update = self.make_command_update(text, chat_id=chat_id, user_id=user_id, username=username,
                                          thread_id=thread_id, chat_type=chat_type)
        self.push_update(update)
        return update["message"]

    def replies_to(self, chat_id: str | int, message_id: int) -> list[SentMessage]:
        """The bot's messages in `chat_id` that reply to `message_id`."""
        with self._lock:
            return [m for m in self.messages if m.chat_id == str(chat_id)
                    and (m.params.get("reply_parameters") or {}).get("message_id") == message_id]

    def wait_reply(self, chat_id: str | int, message_id: int, timeout: float = 10.0) -> SentMessage:
        return self.wait_for(lambda: (self.replies_to(chat_id, message_id) or [None])[0], timeout)

    def wait_photos(self, n: int, timeout: float = 10.0) -> list[SentPhoto]:
        return self.wait_for(lambda: list(self.photos) if len(self.photos) >= n else None, timeout)

    def migrate_chat(self, old: str | int, new: str | int, *, announce: bool = False) -> None:
        """The group `old` becomes the supergroup `new` (a group enabling topics, or growing)."""
        with self._lock:
            self.migrated[str(old)] = str(new)
        if announce:
            for chat, key, other, kind in ((old, "migrate_to_chat_id", new, "group"),
                                           (new, "migrate_from_chat_id", old, "supergroup")):
                self.push_update({"message": {
                    "message_id": next(self._user_message_ids), "date": int(time.time()),
                    "chat": {"id": int(chat), "type": kind, "title": "alerts"},
                    "from": {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"},
                    key: int(other)}})

    def delete_message(self, chat_id: str | int, message_id: int) -> None:
        """Someone deleted the message: editing it answers "message to edit not found"."""
        with self._lock:
            self.deleted.add((str(chat_id), int(message_id)))

    def make_uneditable(self, chat_id: str | int, message_id: int) -> None:
        """Editing the message answers "message can't be edited" (too old, or not the bot's)."""
        with self._lock:
            self.uneditable.add((str(chat_id), int(message_id)))

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
                                 # a private chat's id is the user's id
                                 "type": "private" if str(chat_id) == str(user_id) else "group"},
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
        for key in ("reply_markup", "reply_parameters", "commands"):
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    return self._error(400, f"Bad Request: can't parse {key} JSON object")
        handler = getattr(self, "_m_" + method, None)
        if handler is None:
            return self._error(404, "Not Found")
        moved = self.migrated.get(str(params.get("chat_id", "")))
        if moved is not None:
            return self._error(400, "Bad Request: group chat was upgraded to a supergroup chat",
                               migrate_to_chat_id=int(moved))
        limited = self._limit_check(method, str(params.get("chat_id", "")))
        if limited is not None:
            return limited
        if method == "sendPhoto":
            return self._m_sendPhoto(params, request)
        return handler(params)

    def _check_thread(self, chat_id: str, params: dict) -> Response | None:
        """message_thread_id must be a topic of that forum chat."""
        raw = params.get("message_thread_id")
        if raw is None:
            return None
        try:
            tid = int(raw)
        except (TypeError, ValueError):
            return self._error(400, "Bad Request: invalid message_thread_id")
        if tid not in self.forum_topics.get(chat_id, set()):
            return self._error(400, "Bad Request: message thread not found")
        params["message_thread_id"] = tid
        return None

    def _next_id(self, chat_id: str) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def _visible(self, text: str, mode: Any) -> str | Response:
        """What a chat shows of `text` in parse mode `mode`, or Telegram's 400 when its HTML does not parse."""
        if mode != "HTML":
            return text
        try:
            return parse_telegram_html(text)
        except TelegramHTMLError as exc:
            return self._error(400, f"Bad Request: can't parse entities: {exc}")

    def _check_text(self, params: dict) -> tuple[str, str | None] | Response:
        text = params.get("text")
        if not text:
            return self._error(400, "Bad Request: message text is empty")
        mode = params.get("parse_mode")
        visible = self._visible(text, mode)
        if isinstance(visible, Response):
            return visible
        if utf16_len(visible) > MAX_TEXT:
            return self._error(400, "Bad Request: message is too long")
        if not visible.strip():
            return self._error(400, "Bad Request: message text is empty")
        return text, mode

    def _check_message(self, params: dict) -> tuple[str, str | None] | Response:
        """A sent or edited message's (text, parse mode), or Telegram's 400 for its text or its keyboard."""
        checked = self._check_text(params)
        if isinstance(checked, Response):
            return checked
        bad = self._check_markup(params.get("reply_markup"))
        return checked if bad is None else bad

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
        checked = self._check_message(params)
        if isinstance(checked, Response):
            return checked
        bad = self._check_thread(chat_id, params)
        if bad is not None:
            return bad
        text, mode = checked
        with self._lock:
            msg = SentMessage(chat_id=chat_id, message_id=self._next_id(chat_id), text=text, parse_mode=mode,
                              reply_markup=params.get("reply_markup"), at=time.monotonic(), sent_text=text,
                              params={k: v for k, v in params.items()
                                      if k not in ("chat_id", "text", "parse_mode", "reply_markup")})
            self.messages.append(msg)
        return self._ok({"message_id": msg.message_id, "date": int(time.time()),
                         # a number, as Telegram answers (Alertmanager's client refuses a string id)
                         "chat": {"id": int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id, "type": "group"},
                         "text": msg.visible_text})

    def _m_sendPhoto(self, params: dict, request: Request) -> Response:
        chat_id = str(params.get("chat_id") or "")
        if not chat_id:
            return self._error(400, "Bad Request: chat_id is empty")
        if chat_id in self.blocked_chats:
            return self._error(403, "Forbidden: bot was blocked by the user")
        upload = request.files.get("photo")
        if upload is None:
            return self._error(400, "Bad Request: there is no photo in the request")
        data = upload.read()
        try:
            width, height = check_png(data)
        except ValueError as exc:
            return self._error(400, f"Bad Request: IMAGE_PROCESS_FAILED ({exc})")
        caption = params.get("caption")
        if caption is not None:
            visible = self._visible(caption, params.get("parse_mode"))
            if isinstance(visible, Response):
                return visible
            if utf16_len(visible) > MAX_CAPTION:
                return self._error(400, "Bad Request: message caption is too long")
        bad = self._check_thread(chat_id, params)
        if bad is not None:
            return bad
        for flag in ("disable_notification",):
            if isinstance(params.get(flag), str):
                params[flag] = params[flag] == "true"
        with self._lock:
            photo = SentPhoto(chat_id=chat_id, message_id=self._next_id(chat_id), png=data, width=width,
                              height=height, caption=caption, at=time.monotonic(),
                              params={k: v for k, v in params.items() if k not in ("chat_id", "caption", "photo")})
            self.photos.append(photo)
        return self._ok({"message_id": photo.message_id, "date": int(time.time()),
                         "chat": {"id": chat_id, "type": "supergroup"},
                         "photo": [{"file_id": f"photo-{photo.message_id}", "width": width, "height": height}]})

    def _m_setMyCommands(self, params: dict) -> Response:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            return self._error(400, "Bad Request: commands must be a list of at most 100 BotCommand")
        for c in commands:
            if not isinstance(c, dict) or not isinstance(c.get("command"), str) or \
                    not _COMMAND.match(c["command"]):
                return self._error(400, "Bad Request: BOT_COMMAND_INVALID")
            d = c.get("description")
            if not isinstance(d, str) or not 1 <= len(d) <= 256:
                return self._error(400, "Bad Request: command description is invalid")
        with self._lock:
            self.commands = [dict(c) for c in commands]
        return self._ok(True)

    def _m_editMessageText(self, params: dict) -> Response:
        chat_id = str(params.get("chat_id", ""))
        try:
            message_id = int(params.get("message_id", 0))
        except (TypeError, ValueError):
            return self._error(400, "Bad Request: message_id is invalid")
        if chat_id in self.blocked_chats:
            return self._error(403, "Forbidden: bot was blocked by the user")
        msg = self.find_message(chat_id, message_id)
        if msg is None or (chat_id, message_id) in self.deleted:
            return self._error(400, "Bad Request: message to edit not found")
        if (chat_id, message_id) in self.uneditable:
            return self._error(400, "Bad Request: message can't be edited")
        checked = self._check_message(params)
        if isinstance(checked, Response):
            return checked
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
        recorded_at = time.monotonic()
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 50.0)
        deadline = time.monotonic() + timeout
        with self._lock:
            self._poll_generation += 1
            generation = self._poll_generation
            self._lock.notify_all()  # a poll still waiting learns it was superseded
            if offset:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while True:
                if self._poll_generation != generation:
                    # `started`: when the poll that was ended arrived (a poll of a process killed meanwhile
                    # is ended this way too: the fake cannot see that its client is gone)
                    self.conflicts.append({"offset": offset, "at": time.monotonic(), "started": recorded_at})
                    return self._error(409, "Conflict: terminated by other getUpdates request; make sure that "
                                            "only one bot instance is running")
                ready = [u for u in self._updates if u["update_id"] >= offset]
                left = deadline - time.monotonic()
                if ready or left <= 0 or self._stopping.is_set():
                    break
                self._lock.wait(min(left, 0.2))
            limit = int(params.get("limit") or 100)
            return self._ok(ready[:limit])
