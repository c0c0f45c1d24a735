"""Telegram Bot API client: requests with bounded timeouts and errors classified for the dispatcher.

- 429 -> `DeliveryError(retry_after=parameters.retry_after)`
- 5xx, timeouts, connection errors -> retryable `DeliveryError`
- 400 (e.g. "can't parse entities", "message is too long") and 403 (bot blocked, kicked) -> permanent
- editMessageText answering "message is not modified" counts as success; "message to edit not
  found" / "message can't be edited" -> `MessageGone` (permanent: the channel sends a new message)
- 400 with `parameters.migrate_to_chat_id` (a group upgraded to a supergroup) -> `ChatMigrated`
  (permanent for that chat id: the channel sends to the new one)
- 409 on getUpdates: another consumer polls with this token (permanent for that call)
The bot token is part of every URL, so error texts are built by hand, never from `str(exception)`.

Every call's outcome is kept in `health` (`CallHealth`): the heartbeat reports the chain broken when
calls to Telegram have been failing for a while.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Protocol

import requests

from ..base import DeliveryError
from ..health import CallHealth

__all__ = ["BotAPI", "TelegramClient", "DEFAULT_API_URL", "ChatMigrated", "MessageGone"]

DEFAULT_API_URL = "https://api.telegram.org"
log = logging.getLogger(__name__)
#: what editMessageText answers for a message that was deleted, or is too old or not the bot's to edit
GONE_DESCRIPTIONS = ("message to edit not found", "message can't be edited")


class ChatMigrated(DeliveryError):
    """The chat was upgraded to a supergroup: it lives on as `new_chat_id` (Telegram's
    `parameters.migrate_to_chat_id`); every call naming the old id is refused."""

    def __init__(self, message: str, new_chat_id: str) -> None:
        super().__init__(message, permanent=True, status=400)
        self.new_chat_id = new_chat_id


class MessageGone(DeliveryError):
    """editMessageText: the message was deleted, or can no longer be edited."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True, status=400)


def _counts_as_failure(exc: DeliveryError) -> bool:
    if exc.rate_limited:
        return False
    if exc.permanent:
        return exc.status in (401, 403, 404)
    return True


class BotAPI(Protocol):
    """The calls the channel makes (`TelegramClient`, or `ConsoleTelegram` in a dry run)."""

    def send_message(self, chat_id: str | int, text: str, *, reply_markup: dict[str, Any] | None = None,
                     reply_to_message_id: int | None = None, disable_preview: bool = True,
                     message_thread_id: int | None = None, disable_notification: bool = False) -> int: ...

    def send_photo(self, chat_id: str | int, png: bytes, *, caption: str | None = None,
                   reply_to_message_id: int | None = None, message_thread_id: int | None = None,
                   disable_notification: bool = False) -> int: ...

    def edit_message_text(self, chat_id: str | int, message_id: int, text: str, *,
                          reply_markup: dict[str, Any] | None = None) -> None: ...

    def answer_callback_query(self, callback_query_id: str, text: str | None = None,
                              show_alert: bool = False) -> None: ...


class TelegramClient:
    def __init__(self, token: str, api_url: str | None = None, *, connect_timeout: float = 3.05,
                 read_timeout: float = 10.0, session: requests.Session | None = None) -> None:
        if not token:
            raise ValueError("TelegramClient needs a bot token")
        self._base = f"{(api_url or DEFAULT_API_URL).rstrip('/')}/bot{token}/"
        self._timeout = (connect_timeout, read_timeout)
        self._session = session or requests.Session()
        # the bot's numeric id (the token's first part; not secret): keys what is stored per bot
        self.bot_id = token.split(":", 1)[0] if ":" in token else "bot"
        self.health = CallHealth()

    def __repr__(self) -> str:  # never show the token
        return "TelegramClient(token=***)"

    def call(self, method: str, params: dict[str, Any], *, read_timeout: float | None = None,
             files: dict[str, tuple[str, bytes, str]] | None = None) -> Any:
        """One Bot API call: JSON, or multipart/form-data when `files` are uploaded (then every
        non-string parameter is sent as its JSON text, as the Bot API expects)."""
        try:
            result = self._call(method, params, read_timeout=read_timeout, files=files)
        except DeliveryError as exc:
            if _counts_as_failure(exc):
                self.health.failed(str(exc))
            else:
                self.health.ok()
            raise
        self.health.ok()
        return result

    def _call(self, method: str, params: dict[str, Any], *, read_timeout: float | None,
              files: dict[str, tuple[str, bytes, str]] | None) -> Any:
        timeout = (self._timeout[0], read_timeout) if read_timeout is not None else self._timeout
        try:
            if files:
                form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
                resp = self._session.post(self._base + method, data=form, files=files, timeout=timeout)
            else:
                resp = self._session.post(self._base + method, json=params, timeout=timeout)
        except requests.Timeout:
            raise DeliveryError(f"telegram {method}: timed out after {timeout[1]:g}s") from None
        except requests.ConnectionError as exc:
            raise DeliveryError(f"telegram {method}: connection failed ({type(exc).__name__})") from None
        except requests.RequestException as exc:
            raise DeliveryError(f"telegram {method}: request failed ({type(exc).__name__})") from None
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if resp.status_code == 200 and body.get("ok"):
            return body.get("result")
        # an error answer is read defensively: any field may be missing or of another type
        desc = str(body.get("description") or f"HTTP {resp.status_code}")[:300]
        code = _integer(body.get("error_code")) or resp.status_code
        raw_parameters = body.get("parameters")
        parameters: dict[str, Any] = raw_parameters if isinstance(raw_parameters, dict) else {}
        if code == 429:
            retry_after = _seconds(parameters.get("retry_after"))
            if retry_after is None:
                retry_after = _header_seconds(resp.headers.get("Retry-After"))
            raise DeliveryError(f"telegram {method}: 429 {desc}", retry_after=retry_after or 1.0, status=429)
        if code >= 500 or resp.status_code >= 500:
            raise DeliveryError(f"telegram {method}: {code} {desc}", status=code)
        if method == "editMessageText" and "message is not modified" in desc:
            return None
        migrate_to = _integer(parameters.get("migrate_to_chat_id"))
        if code == 400 and migrate_to is not None:
            raise ChatMigrated(f"telegram {method}: 400 {desc}", str(migrate_to))
        if method == "editMessageText" and any(g in desc for g in GONE_DESCRIPTIONS):
            raise MessageGone(f"telegram {method}: 400 {desc}")
        # 400 bad request (can't parse entities, too long, chat not found), 401 bad token,
        # 403 bot blocked/kicked, 404 unknown method: retrying the same call cannot succeed.
        raise DeliveryError(f"telegram {method}: {code} {desc}", permanent=True, status=code)

    def send_message(self, chat_id: str | int, text: str, *, reply_markup: dict[str, Any] | None = None,
                     reply_to_message_id: int | None = None, disable_preview: bool = True,
                     message_thread_id: int | None = None, disable_notification: bool = False) -> int:
        params: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": "HTML",
                                  "link_preview_options": {"is_disabled": disable_preview}}
        if reply_markup is not None:
            params["reply_markup"] = reply_markup
        _where(params, message_thread_id, disable_notification, reply_to_message_id)
        result = self.call("sendMessage", params)
        return int(result["message_id"])

    def send_photo(self, chat_id: str | int, png: bytes, *, caption: str | None = None,
                   reply_to_message_id: int | None = None, message_thread_id: int | None = None,
                   disable_notification: bool = False) -> int:
        """sendPhoto with the PNG uploaded as multipart/form-data; the caption is HTML."""
        params: dict[str, Any] = {"chat_id": str(chat_id)}
        if caption:
            params["caption"] = caption
            params["parse_mode"] = "HTML"
        _where(params, message_thread_id, disable_notification, reply_to_message_id)
        result = self.call("sendPhoto", params, files={"photo": ("graph.png", png, "image/png")},
                           read_timeout=30.0)
        return int(result["message_id"])

    def set_my_commands(self, commands: list[tuple[str, str]]) -> None:
        """Register the command list Telegram shows when the operator types `/`."""
        self.call("setMyCommands", {"commands": [{"command": c, "description": d} for c, d in commands]})

    def get_me(self) -> dict[str, Any]:
        return dict(self.call("getMe", {}) or {})

    def edit_message_text(self, chat_id: str | int, message_id: int, text: str, *,
                          reply_markup: dict[str, Any] | None = None) -> None:
        params: dict[str, Any] = {"chat_id": chat_id, "message_id": int(message_id), "text": text,
                                  "parse_mode": "HTML", "link_preview_options": {"is_disabled": True}}
        if reply_markup is not None:
            params["reply_markup"] = reply_markup
        self.call("editMessageText", params)

    def answer_callback_query(self, callback_query_id: str, text: str | None = None,
                              show_alert: bool = False) -> None:
        params: dict[str, Any] = {"callback_query_id": callback_query_id}
        if text:
            params["text"] = text[:200]
            params["show_alert"] = show_alert
        self.call("answerCallbackQuery", params)

    def get_updates(self, offset: int | None, timeout: int = 25) -> list[dict[str, Any]]:
        """Long poll; the HTTP read timeout is the poll timeout plus a margin."""
        params: dict[str, Any] = {"timeout": timeout, "allowed_updates": ["callback_query", "message"]}
        if offset is not None:
            params["offset"] = offset
        return list(self.call("getUpdates", params, read_timeout=timeout + 10.0) or [])

    def close(self) -> None:
        self._session.close()


def _header_seconds(value: str | None) -> float | None:
    try:
        return _seconds(float(value)) if value is not None else None
    except ValueError:
        return None


def _integer(value: Any) -> int | None:
    """An integer field of an answer (a chat id, an error code), or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _seconds(value: Any) -> float | None:
    """A `retry_after`: a finite, non-negative number of seconds (at most an hour), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    seconds = float(value)
    return min(seconds, 3600.0) if 0 <= seconds < float("inf") else None


def _where(params: dict[str, Any], thread: int | None, quiet: bool, reply_to: int | None) -> None:
    """The parameters every sending method shares: forum topic, no sound, reply."""
    if thread is not None:
        params["message_thread_id"] = int(thread)
    if quiet:
        params["disable_notification"] = True
    if reply_to is not None:
        params["reply_parameters"] = {"message_id": reply_to, "allow_sending_without_reply": True}

