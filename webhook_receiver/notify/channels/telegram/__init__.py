"""The Telegram channel: Bot API client (`client`), dry-run console (`console`), HTML rendering
(`format`), button presses / commands / long polling (`updates`) and its settings (`settings`).

Everything only Telegram does stays here, behind the abilities of `channels.base`: routing by the
channel map's `telegram.routes` (chats, forum topics, quiet severities), graphs sent as photos,
command answers, the operator's commands and buttons, being the pager (the dead man's switch goes to
TELEGRAM_CHAT_ID), and the P0 reserve of a chat's per-minute budget (`ChannelLimits`).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from vocabulary import NotificationKind

from ....setting_parsers import load
from ...channel_map import ChannelMap
from ...desk import CommandDesk, CommandIntake
from ...model import Notice
from ...settings import NotifySettings
from .. import register
from ..base import ChannelLimits, Destination, Part, SettingsClass, TailCount
from .client import BotAPI, TelegramClient
from .console import ConsoleTelegram
from .format import (
    TELEGRAM_MAX_CHARS,
    LinkBuilder,
    alert_keyboard,
    packed_keyboard,
    render_alert,
    render_deadman,
    render_packed,
    split_html,
    truncate_html,
)
from .nudges import NUDGE_KINDS, render_nudge, render_packed_nudges
from .settings import TelegramSettings

__all__ = ["TelegramChannel", "TelegramClient", "ConsoleTelegram", "TelegramSettings", "BotAPI"]

log = logging.getLogger("d76.notify.telegram")


@register
class TelegramChannel:
    """Messages to TELEGRAM_CHAT_ID and the chats and forum topics the channel map routes to; with no
    bot token they are printed (dry run)."""

    name: ClassVar[str] = "telegram"
    settings: ClassVar[SettingsClass] = TelegramSettings
    settings_keys: ClassVar[tuple[str, ...]] = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")
    per_alert: ClassVar[bool] = True
    can_edit: ClassVar[bool] = True

    def __init__(self, client: BotAPI, chat_id: str, limits: ChannelLimits, links: LinkBuilder | None = None,
                 config: TelegramSettings | None = None) -> None:
        self.client = client
        self.chat_id = str(chat_id)
        self.limits = limits
        self.links = links or LinkBuilder()
        self.config = config or TelegramSettings()
        self.channel_map: ChannelMap | None = None

    def use_channel_map(self, channel_map: ChannelMap) -> None:
        """Route by the map's `telegram.routes` (chats, forum topics, quiet severities)."""
        self.channel_map = channel_map

    @classmethod
    def from_settings(cls, raw: Mapping[str, str], notify: NotifySettings) -> TelegramChannel:
        """Always on: without a token (or chat) it is the console dry run (CONTRACT section 6)."""
        s = load(TelegramSettings, raw)
        limits = ChannelLimits(min_interval=s.chat_min_interval, per_minute=s.chat_per_minute,
                               global_per_second=s.global_per_second, max_chars=TELEGRAM_MAX_CHARS,
                               p0_reserve_per_minute=s.p0_reserve_per_minute)
        links = LinkBuilder(notify.external_url)
        if s.dry_run or not s.chat_id:
            return cls(ConsoleTelegram(graph_dir=s.dry_run_dir), s.chat_id or "console", limits, links, s)
        return cls(TelegramClient(s.bot_token or "", s.api_url), s.chat_id, limits, links, s)

    @property
    def dry_run(self) -> bool:
        return isinstance(self.client, ConsoleTelegram)

    def home(self) -> str:
        """TELEGRAM_CHAT_ID (or `console` in a dry run): the dead man's switch pages it."""
        return self.chat_id

    def destinations(self, severity: str, labels: Mapping[str, str]) -> list[Destination]:
        """Each chat an alert goes to, with its forum topic and whether it is told quietly."""
        if self.channel_map is None:
            return [Destination(self.chat_id)]
        return self.channel_map.telegram_destinations(severity, labels, self.chat_id)

    def chats(self) -> tuple[str, ...]:
        """Every chat this channel tells (the default one first; routes, escalation steps): commands
        and buttons are taken from these."""
        if self.channel_map is None:
            return (self.chat_id,)
        return tuple(dict.fromkeys((*self.channel_map.telegram_chats(self.chat_id),
                                    *self.channel_map.escalation.telegram_chats())))

    # rendering ---------------------------------------------------------------------------------
    def render_single(self, notice: Notice, destination: str) -> list[Part]:
        if notice.kind == NotificationKind.DEADMAN:
            p = notice.payload
            at = datetime.fromisoformat(p["at"]) if p.get("at") else datetime.now(UTC)
            return [Part(render_deadman(bool(p.get("down", True)), float(p.get("silent_for", 0)), at))]
        alert = notice.alert
        if alert is None:
            raise ValueError(f"telegram: a {notice.kind!r} notice needs an alert")
        text = render_nudge(notice, self.links) if notice.kind in NUDGE_KINDS else render_alert(alert, self.links)
        texts = split_html(text, self.limits.max_chars)
        keyboard = alert_keyboard(int(alert.id or 0), acked=bool(alert.acknowledged_by), resolved=alert.resolved) \
            if alert.id is not None else None
        parts = [Part(texts[0], {"reply_markup": keyboard} if keyboard is not None else {})]
        parts += [Part(t) for t in texts[1:]]
        return parts

    def render_packed(self, notices: Sequence[Notice], destination: str, *, tail: Sequence[TailCount] = (),
                      fit: bool = True, message_ref: int | None = None) -> tuple[Part, int]:
        if notices and notices[0].kind in NUDGE_KINDS:  # reminders, escalation steps: packed among themselves
            text, n = render_packed_nudges(notices, tail=tail, fit=fit, links=self.links, limit=self.limits.max_chars)
        else:
            text, n = render_packed(notices, tail=tail, fit=fit, links=self.links, limit=self.limits.max_chars)
        extras: dict[str, Any] = {}
        if message_ref is not None:
            extras["reply_markup"] = packed_keyboard(message_ref, [x.alert for x in notices[:n] if x.alert])
        return Part(text, extras), n

    def render_reply(self, payload: Mapping[str, Any]) -> Part:
        """A command's answer (already Telegram HTML), kept to one message."""
        text = truncate_html(str(payload.get("text") or "…"), self.limits.max_chars)
        markup = payload.get("reply_markup")
        return Part(text, {"reply_markup": markup} if isinstance(markup, dict) else {})

    # sending -----------------------------------------------------------------------------------
    def send(self, destination: str, part: Part, *, reply_to: str | None = None) -> str | None:
        mid = self.client.send_message(
            destination, part.text, reply_markup=part.extras.get("reply_markup"),
            reply_to_message_id=int(reply_to) if reply_to else None,
            message_thread_id=part.thread_id, disable_notification=part.quiet)
        return str(mid)

    def send_photo(self, destination: str, png: bytes, caption: str, *, reply_to: str | None = None,
                   thread_id: int | None = None, quiet: bool = True) -> str | None:
        """A PNG (a graph) with an HTML caption, as a reply to `reply_to` (the page)."""
        mid = self.client.send_photo(destination, png, caption=caption,
                                     reply_to_message_id=int(reply_to) if reply_to else None,
                                     message_thread_id=thread_id, disable_notification=quiet)
        return str(mid)

    def edit(self, destination: str, remote_id: str, part: Part) -> None:
        self.client.edit_message_text(destination, int(remote_id), part.text,
                                      reply_markup=part.extras.get("reply_markup"))

    # commands and buttons ------------------------------------------------------------------------
    def take_commands(self, desk: CommandDesk) -> CommandIntake:
        """Button presses and commands from the chats this channel tells: through POST
        /telegram/webhook (TELEGRAM_WEBHOOK_SECRET) or long polling; a dry run takes none but the
        webhook's. At start the bot learns its username and registers the command list."""
        from .updates import BotSetup, CallbackHandler, LongPoller, telegram_blueprint

        s = self.config
        handler = CallbackHandler(desk.actions, self.client, chat_id=self.chat_id,
                                  allowed_user_ids=s.allowed_user_ids, action_errors=desk.action_errors,
                                  chats=self.chats(), console=desk.console, replies=desk.replies)
        intake = CommandIntake(blueprint=telegram_blueprint(handler, s.webhook_secret))
        if isinstance(self.client, TelegramClient):
            intake.workers.append(BotSetup(self.client, handler, s.set_commands))
            if s.polling:
                intake.workers.append(LongPoller(self.client, handler, poll_timeout=s.poll_timeout))
        log.info("telegram commands", extra={"fields": {
            "telegram": "dry-run" if self.dry_run else "bot", "polling": s.polling and not self.dry_run,
            "webhook": s.webhook_secret is not None, "chats": list(self.chats()),
            "routes": len(self.channel_map.telegram_routes) if self.channel_map is not None else 0,
            "commands_from": "TELEGRAM_ALLOWED_USER_IDS" if s.allowed_user_ids
            else "anyone in the configured chats (set TELEGRAM_ALLOWED_USER_IDS)"}})
        return intake
