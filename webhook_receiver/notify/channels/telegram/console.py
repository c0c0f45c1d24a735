"""Dry-run channel: with no TELEGRAM_BOT_TOKEN the messages are printed, so the demo needs no account.
Photos (graphs) are saved as PNG files in a folder (TELEGRAM_DRY_RUN_DIR) and their paths printed.

What the phone would show is printed, not only the text: each link with its target
(`📖 Runbook (http://...)`) and the buttons under the message (`buttons: [✅ Ack] [🔕 Silence 1h]`, a
URL button with its target); an edit says which buttons remain (`buttons: none` once resolved)."""
from __future__ import annotations

import html
import itertools
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, TextIO

__all__ = ["ConsoleTelegram", "plain_text", "buttons_text"]

_TAGS = re.compile(r"<[^>]+>")
_LINK = re.compile(r"<a\s[^>]*?href=\"([^\"]*)\"[^>]*>(.*?)</a>", re.S)


def plain_text(text: str) -> str:
    """Telegram HTML as the phone shows it, in plain text: tags dropped, each link followed by its
    target."""
    linked = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    return html.unescape(_TAGS.sub("", linked))


def buttons_text(markup: dict[str, Any] | None) -> list[str]:
    """The inline keyboard, one line per row of buttons (`[✅ Ack] [🔕 Silence 1h]`); a URL button
    shows its target."""
    rows = (markup or {}).get("inline_keyboard") or []
    out = []
    for row in rows:
        cells = [f"[{b.get('text', '?')}" + (f" -> {b['url']}" if b.get("url") else "") + "]" for b in row]
        if cells:
            out.append(" ".join(cells))
    return out


class ConsoleTelegram:
    """Quacks like `TelegramClient` for sending, editing and answering buttons; prints plain text to
    `stream`. (No getMe, setMyCommands or getUpdates: the service starts no bot setup or long polling
    in a dry run.)"""

    def __init__(self, stream: TextIO | None = None, graph_dir: str | Path | None = None) -> None:
        self._stream = stream
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.sent: list[tuple[int, str]] = []
        self.graph_dir = Path(graph_dir) if graph_dir else Path(tempfile.gettempdir()) / "d76-graphs"
        self.photos: list[Path] = []

    def _print(self, prefix: str, text: str, markup: dict[str, Any] | None = None, *, edit: bool = False) -> None:
        plain = plain_text(text)
        rows = buttons_text(markup)
        if rows:
            plain += "\n" + "\n".join(("buttons: " if i == 0 else "         ") + r for i, r in enumerate(rows))
        elif edit:
            plain += "\nbuttons: none"
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(f"[telegram dry-run] {prefix}\n{plain}\n---\n")
            stream.flush()

    def send_message(self, chat_id: str | int, text: str, *, reply_markup: dict[str, Any] | None = None,
                     reply_to_message_id: int | None = None, disable_preview: bool = True,
                     message_thread_id: int | None = None, disable_notification: bool = False) -> int:
        mid = next(self._ids)
        self.sent.append((mid, text))
        self._print(f"message {mid}", text, reply_markup)
        return mid

    def send_photo(self, chat_id: str | int, png: bytes, *, caption: str | None = None,
                   reply_to_message_id: int | None = None, message_thread_id: int | None = None,
                   disable_notification: bool = False) -> int:
        mid = next(self._ids)
        self.graph_dir.mkdir(parents=True, exist_ok=True)
        # the process id too: HA receivers of one stack share its folder, and the default folder is shared
        path = self.graph_dir / f"graph-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{mid}.png"
        path.write_bytes(png)
        self.photos.append(path)
        reply = f" (reply to message {reply_to_message_id})" if reply_to_message_id else ""
        self._print(f"photo {mid}{reply}: {path}", caption or "")
        return mid

    def edit_message_text(self, chat_id: str | int, message_id: int, text: str, *,
                          reply_markup: dict[str, Any] | None = None) -> None:
        self.sent.append((int(message_id), text))
        self._print(f"edit of message {message_id}", text, reply_markup, edit=True)

    def answer_callback_query(self, callback_query_id: str, text: str | None = None,
                              show_alert: bool = False) -> None:
        return None
