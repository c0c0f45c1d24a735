"""The Telegram channel: Bot API client (`client`), dry-run console (`console`), HTML rendering
(`format`) and button presses / long polling (`updates`)."""
from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

from ...model import Notice
from ...settings import NotifySettings
from .. import register
from ..base import ChannelLimits, Part, TailCount
from .client import TelegramClient
from .console import ConsoleTelegram
from .format import (
    TELEGRAM_MAX_CHARS, LinkBuilder, alert_keyboard, packed_keyboard, render_alert, render_deadman, render_packed,
    split_html,
)

__all__ = ["TelegramChannel", "TelegramClient", "ConsoleTelegram"]


@register
class TelegramChannel:
    """Messages to one chat (TELEGRAM_CHAT_ID); with no bot token they are printed (dry run)."""

    name: ClassVar[str] = "telegram"
    settings_keys: ClassVar[tuple[str, ...]] = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")
    per_alert: ClassVar[bool] = True
    can_edit: ClassVar[bool] = True

    def __init__(self, client: Any, chat_id: str, limits: ChannelLimits, links: LinkBuilder = LinkBuilder()) -> None:
        self.client = client
        self.chat_id = str(chat_id)
        self.limits = limits
        self.links = links

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> "TelegramChannel":
        """Always on: without a token (or chat) it is the console dry run (CONTRACT section 6)."""
        limits = ChannelLimits(min_interval=settings.telegram_chat_min_interval,
                               per_minute=settings.telegram_chat_per_minute,
                               global_per_second=settings.telegram_global_per_second,
                               max_chars=TELEGRAM_MAX_CHARS)
        links = LinkBuilder(settings.external_url)
        if settings.telegram_dry_run or not settings.telegram_chat_id:
            return cls(ConsoleTelegram(), settings.telegram_chat_id or "console", limits, links)
        return cls(TelegramClient(settings.telegram_bot_token or "", settings.telegram_api_url),
                   settings.telegram_chat_id, limits, links)

    @property
    def dry_run(self) -> bool:
        return isinstance(self.client, ConsoleTelegram)

    def destinations(self, severity: str, labels: Mapping[str, str]) -> tuple[str, ...]:
        return (self.chat_id,)

    # rendering ---------------------------------------------------------------------------------
    def render_single(self, notice: Notice, destination: str) -> list[Part]:
        if notice.kind == "deadman":
            from datetime import datetime, timezone

            p = notice.payload
            at = datetime.fromisoformat(p["at"]) if p.get("at") else datetime.now(timezone.utc)
            return [Part(render_deadman(bool(p.get("down", True)), float(p.get("silent_for", 0)), at))]
        alert = notice.alert
        if alert is None:
            raise ValueError(f"telegram: a {notice.kind!r} notice needs an alert")
        texts = split_html(render_alert(alert, self.links), self.limits.max_chars)
        keyboard = alert_keyboard(int(alert.id or 0), acked=bool(alert.acknowledged_by), resolved=alert.resolved) \
            if alert.id is not None else None
        parts = [Part(texts[0], {"reply_markup": keyboard} if keyboard is not None else {})]
        parts += [Part(t) for t in texts[1:]]
        return parts

    def render_packed(self, notices: Sequence[Notice], destination: str, *, tail: Sequence[TailCount] = (),
                      fit: bool = True, message_ref: int | None = None) -> tuple[Part, int]:
        text, n = render_packed(notices, tail=tail, fit=fit, links=self.links, limit=self.limits.max_chars)
        extras: dict[str, Any] = {}
        if message_ref is not None:
            extras["reply_markup"] = packed_keyboard(message_ref, [x.alert for x in notices[:n] if x.alert])
        return Part(text, extras), n

    # sending -----------------------------------------------------------------------------------
    def send(self, destination: str, part: Part, *, reply_to: str | None = None) -> str | None:
        mid = self.client.send_message(
            destination, part.text, reply_markup=part.extras.get("reply_markup"),
            reply_to_message_id=int(reply_to) if reply_to else None,
            message_thread_id=part.extras.get("thread_id"), disable_notification=bool(part.extras.get("quiet")))
        return str(mid)

    def edit(self, destination: str, remote_id: str, part: Part) -> None:
        self.client.edit_message_text(destination, int(remote_id), part.text,
                                      reply_markup=part.extras.get("reply_markup"))
