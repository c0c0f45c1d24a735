"""The Telegram channel: Bot API client (`client`), dry-run console (`console`), HTML rendering
(`format`), button presses / commands / long polling (`updates`), what it keeps in the database
(`state`) and its settings (`settings`).

Everything only Telegram does stays here, behind the abilities of `channels.base`: routing by the
channel map's `telegram.routes` (chats, forum topics, quiet severities), graphs sent as photos,
command answers, the operator's commands and buttons, being the pager (the dead man's switch goes to
TELEGRAM_CHAT_ID), and the P0 reserve of a chat's per-minute budget (`ChannelLimits`).

Telegram's edge cases, handled here so no message is lost to them:
- a group upgraded to a supergroup (400 with `migrate_to_chat_id`): the message goes to the new chat
  at once, the move is remembered (`state.ChatMoves`, in the database) and every later call for the
  configured id goes to the new chat, while the configured id keeps naming the lane; the chat is
  told once (and the log says) to update the configuration. Edits are not moved: a message of the
  old chat cannot be edited in the new one (the same message id may name another message there),
  so an edit answered "migrated" is sent as a new message in the new chat;
- "message to edit not found" / "message can't be edited": the update (an acknowledgement, a
  resolve, a refresh, a page of /alerts) is sent as a new message instead.
"""
from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from vocabulary import NotificationKind, Severity

from ....setting_parsers import load
from ....store.base import AlertStore
from ...channel_map import ChannelMap
from ...desk import CommandDesk, CommandIntake
from ...model import Notice
from ...oncall import Person
from ...settings import NotifySettings
from .. import register
from ..base import ChannelLimits, DeliveryError, Destination, Part, SettingsClass, TailCount
from ..health import HealthSnapshot
from .client import BotAPI, ChatMigrated, MessageGone, TelegramClient
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
from .state import ChatMoves, TelegramState

__all__ = ["TelegramChannel", "TelegramClient", "ConsoleTelegram", "TelegramSettings", "BotAPI"]

log = logging.getLogger("d76.notify.telegram")
ONCALL_SEVERITIES = frozenset({Severity.P0.value, Severity.P1.value})  # pages that mention who is on call
T = TypeVar("T")
MOVED_NOTE = ("⚠️ This group became a supergroup: its chat id changed from <code>{old}</code> to "
              "<code>{new}</code>. Alerts keep arriving here, but please update the configuration "
              "(TELEGRAM_CHAT_ID, or the channel map's telegram routes) to <code>{new}</code>.")


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
        self.state: TelegramState | None = None
        self.moves = ChatMoves()
        self.oncall_person: Callable[[datetime], Person | None] | None = None

    def use_store(self, store: AlertStore) -> None:
        """Chats that became supergroups, the getUpdates offset and the polling lease live in the
        receiver's database, shared by its replicas."""
        self.state = TelegramState(store)
        self.moves = ChatMoves(self.state)

    def health(self) -> HealthSnapshot | None:
        """Whether calls to the Bot API get through (None in a dry run)."""
        return self.client.health.snapshot() if isinstance(self.client, TelegramClient) else None

    def use_oncall(self, oncall_person: Callable[[datetime], Person | None]) -> None:
        """Mention who is on call in P0/P1 pages (their phone rings)."""
        self.oncall_person = oncall_person

    def _mention(self, notices: Sequence[Notice]) -> str | None:
        """Who is on call, when one of these is an open P0/P1 alert (an edit keeps the line; only the
        first sending rings)."""
        if self.oncall_person is None or not any(
                n.alert is not None and not n.alert.resolved and n.kind != NotificationKind.RESOLVED
                and n.alert.severity in ONCALL_SEVERITIES for n in notices):
            return None
        person = self.oncall_person(datetime.now(UTC))
        return person.mention_html() if person is not None else None

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
            return [Part(render_deadman(bool(p.get("down", True)), float(p.get("silent_for", 0)), at,
                                        resolved=bool(p.get("resolved", False))))]
        alert = notice.alert
        if alert is None:
            raise ValueError(f"telegram: a {notice.kind!r} notice needs an alert")
        text = (render_nudge(notice, self.links) if notice.kind in NUDGE_KINDS
                else render_alert(alert, self.links, self._mention([notice])))
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
            text, n = render_packed(notices, tail=tail, fit=fit, links=self.links, limit=self.limits.max_chars,
                                    oncall=self._mention(notices))
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
        mid = self._moving(destination, lambda chat: self.client.send_message(
            chat, part.text, reply_markup=part.extras.get("reply_markup"),
            reply_to_message_id=int(reply_to) if reply_to else None,
            message_thread_id=part.thread_id, disable_notification=part.quiet))
        return str(mid)

    def send_photo(self, destination: str, png: bytes, caption: str, *, reply_to: str | None = None,
                   thread_id: int | None = None, quiet: bool = True) -> str | None:
        """A PNG (a graph) with an HTML caption, as a reply to `reply_to` (the page)."""
        mid = self._moving(destination, lambda chat: self.client.send_photo(
            chat, png, caption=caption, reply_to_message_id=int(reply_to) if reply_to else None,
            message_thread_id=thread_id, disable_notification=quiet))
        return str(mid)

    def edit(self, destination: str, remote_id: str, part: Part) -> None:
        """Edit a sent message; one that is gone (deleted, too old, left in a chat that became a
        supergroup) is sent again as a new message with the new text and buttons."""
        why = "the chat became a supergroup"
        try:
            if self.moves.current(destination) == destination:  # a moved chat's old messages stay behind
                self.client.edit_message_text(destination, int(remote_id), part.text,
                                              reply_markup=part.extras.get("reply_markup"))
                return
        except ChatMigrated as exc:
            self.chat_moved(destination, exc.new_chat_id)
        except MessageGone as exc:
            why = str(exc)
        log.info("message not editable; sending the update as a new message", extra={"fields": {
            "chat": destination, "message_id": remote_id, "why": why}})
        self.send(destination, part)

    def _moving(self, destination: str, call: Callable[[str], T]) -> T:
        """Make `call` for the chat `destination` is now; when Telegram answers that it became a
        supergroup, remember that and make the call again for the new chat."""
        chat = self.moves.current(destination)
        for _ in range(ChatMoves.MAX_HOPS):
            try:
                return call(chat)
            except ChatMigrated as exc:
                self.chat_moved(chat, exc.new_chat_id)
                chat = self.moves.current(exc.new_chat_id)
        return call(chat)

    def chat_moved(self, old: str, new: str) -> None:
        """`old` became the supergroup `new`: send there from now on; warn once (log, and a note in the
        new chat) that the configuration still names the old id."""
        if not self.moves.learn(str(old), str(new)):
            return
        log.warning("telegram chat became a supergroup: messages go to the new chat; update the configuration",
                    extra={"fields": {"old_chat_id": str(old), "new_chat_id": str(new),
                                      "update": "TELEGRAM_CHAT_ID or the channel map's telegram.routes"}})
        if not self.moves.claim_warning(str(old)):
            return
        try:
            self.client.send_message(new, MOVED_NOTE.format(old=html.escape(str(old)), new=html.escape(str(new))))
        except DeliveryError as exc:
            log.warning("could not tell the chat it moved", extra={"fields": {"error": str(exc)}})

    # commands and buttons ------------------------------------------------------------------------
    def take_commands(self, desk: CommandDesk) -> CommandIntake:
        """Button presses and commands from the chats this channel tells: through POST
        /telegram/webhook (TELEGRAM_WEBHOOK_SECRET) or long polling; a dry run takes none but the
        webhook's. At start the bot learns its username and registers the command list."""
        from .updates import BotSetup, CallbackHandler, LongPoller, telegram_blueprint

        s = self.config
        handler = CallbackHandler(desk.actions, self.client, chat_id=self.chat_id,
                                  allowed_user_ids=s.allowed_user_ids, action_errors=desk.action_errors,
                                  chats=self.chats(), console=desk.console, replies=desk.replies,
                                  moved_from=self.moves.original, on_chat_moved=self.chat_moved)
        intake = CommandIntake(blueprint=telegram_blueprint(handler, s.webhook_secret))
        if isinstance(self.client, TelegramClient):
            intake.workers.append(BotSetup(self.client, handler, s.set_commands))
            if s.polling:
                intake.workers.append(LongPoller(self.client, handler, poll_timeout=s.poll_timeout, state=self.state,
                                                 lease_seconds=s.poll_lease_seconds))
        log.info("telegram commands", extra={"fields": {
            "telegram": "dry-run" if self.dry_run else "bot", "polling": s.polling and not self.dry_run,
            "webhook": s.webhook_secret is not None, "chats": list(self.chats()),
            "polling_by": "lease (one replica at a time)" if self.state is not None else "this process",
            "routes": len(self.channel_map.telegram_routes) if self.channel_map is not None else 0,
            "commands_from": "TELEGRAM_ALLOWED_USER_IDS" if s.allowed_user_ids
            else "anyone in the configured chats (set TELEGRAM_ALLOWED_USER_IDS)"}})
        return intake
