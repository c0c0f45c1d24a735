"""The one interface every notification channel implements, the types it trades in, and the small
abilities a channel may add.

A channel turns alert notices into messages for one kind of destination (a Telegram chat, a Slack
incoming webhook, ...) and sends them. It knows its own format, its service's limits and its own
settings; it knows nothing of the outbox, pacing or the store: the dispatcher decides *when* and
*what* (one alert, or several packed into one message) and the channel decides *how*.

`Channel` is what every channel is. An ability is a protocol of its own, checked with `isinstance`
where it is used, so the core never asks a channel's name:

    UsesChannelMap   routes by the channel map (Telegram: chats, forum topics, quiet severities)
    SendsPhotos      sends a PNG as a reply to a message (the graph that follows a page)
    RendersReplies   renders the answer to an operator's command (kind `reply`)
    TakesCommands    takes operators' commands and button presses (long polling, a webhook)
    Pager            the channel the operator carries: the dead man's switch pages its home
                     destination, and a configured channel the channel map never names follows
                     its severities
    TakesDigest      sends the daily digest
    UsesStore        keeps state of its own in the receiver's database (Telegram: chats that became
                     supergroups, the getUpdates offset and polling lease)
    ReportsHealth    says whether its calls get through (the heartbeat reports it)

To add a channel: write one module with a class implementing `Channel` and decorate it with
`@register` (`webhook_receiver.notify.channels`), inside this package or installed elsewhere and
named in the entry-point group `d76.channels`. Settings, the planner, the dispatcher and the
catalog's channel map all read the registry.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from vocabulary import NotificationKind

from ..model import Notice

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from ...store.base import AlertStore
    from ..channel_map import ChannelMap
    from ..desk import CommandDesk, CommandIntake
    from ..oncall import Person
    from ..settings import NotifySettings
    from .health import HealthSnapshot

    #: a channel's settings class: a frozen dataclass declared with `setting_parsers.setting`
    SettingsClass = type[DataclassInstance]
else:
    SettingsClass = type

__all__ = ["Channel", "ChannelLimits", "DeliveryError", "Destination", "Part", "TailCount", "UsesChannelMap",
           "SendsPhotos", "RendersReplies", "TakesCommands", "Pager", "TakesDigest", "UsesStore", "ReportsHealth",
           "SettingsClass", "MentionsOncall"]


class DeliveryError(Exception):
    """A delivery failed.

    permanent: retrying cannot help (400 "can't parse entities", 403 bot blocked, bad webhook URL).
    retry_after: the service asked us to wait (Telegram `parameters.retry_after`, Discord's JSON
    `retry_after`, a `Retry-After` header): a rate limit, never counted as a failure.
    The message never contains a token or a webhook URL.
    """

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.status = status

    @property
    def rate_limited(self) -> bool:
        return self.retry_after is not None and not self.permanent

    @property
    def kind(self) -> str:
        if self.permanent:
            return "permanent"
        return "rate_limited" if self.retry_after is not None else "retryable"


@dataclass(frozen=True)
class ChannelLimits:
    """A service's limits for one destination, plus the channel's limit across destinations.

    min_interval: seconds between two calls to one destination (Telegram: ~1 message a second per
    chat); per_minute: calls to one destination in any 60 s (Telegram groups: 20);
    global_per_second: calls across all destinations (Telegram: ~30 a second per bot; 0 = none);
    p0_reserve_per_minute: of a destination's calls in a minute, how many are kept for P0 (so a P0
    arriving in a storm still finds a slot; 0 = none).
    """

    min_interval: float = 1.0
    per_minute: int = 20
    global_per_second: float = 0.0
    max_chars: int = 4096
    p0_reserve_per_minute: int = 0


@dataclass(frozen=True)
class Destination:
    """Where one alert goes: a destination of the channel (a chat, a webhook key: the lane) and,
    where the channel has them, a topic within it (Telegram forum topics) and whether it is told
    without a sound."""

    chat: str
    thread_id: int | None = None
    quiet: bool = False


@dataclass(frozen=True)
class Part:
    """One message as the channel will send it: its text, the forum topic it goes to and whether it is
    sent without a sound (both set by the dispatcher from the rows it carries; a channel without
    topics or quiet messages ignores them), plus channel-specific extras (Telegram: `reply_markup`;
    Slack, Discord: the JSON `payload`)."""

    text: str
    extras: Mapping[str, Any] = field(default_factory=dict)
    thread_id: int | None = None
    quiet: bool = False


@dataclass(frozen=True)
class TailCount:
    """Alerts of one name counted, not named, in a packed message (beyond the naming bound)."""

    severity: str
    alertname: str
    kind: NotificationKind  # firing | resolved
    count: int
    first_names: tuple[str, ...] = ()


@runtime_checkable
class Channel(Protocol):
    """What the dispatcher needs from a channel. Implementations are registered with `@register`."""

    name: ClassVar[str]
    #: the channel's settings: a frozen dataclass whose fields are declared with
    #: `webhook_receiver.setting_parsers.setting` (variable, default, meaning, reader)
    settings: ClassVar[SettingsClass]
    #: setting names (environment) whose presence means "the operator configured this channel";
    #: any of them set turns notifications on by default
    settings_keys: ClassVar[tuple[str, ...]]
    #: True: one outbox row per alert event; False: the channel is fed otherwise (email digest)
    per_alert: ClassVar[bool]
    #: whether sent messages can be edited later (ack, resolve)
    can_edit: ClassVar[bool]
    limits: ChannelLimits

    @classmethod
    def from_settings(cls, raw: Mapping[str, str], notify: NotifySettings) -> Channel | None:
        """The channel as the raw settings (environment and config file) configure it, or None when
        they do not; `notify` carries the core settings (the receiver's external URL, ...). Reads
        its own settings from `raw` (`load(cls.settings, raw)`); a bad value raises `SettingsError`
        naming the variable."""

    def destinations(self, severity: str, labels: Mapping[str, str]) -> list[Destination]:
        """Where a notice of this severity and these labels goes (chats, webhook keys, with their
        topics); [] when this channel is not configured for it."""

    def render_single(self, notice: Notice, destination: str) -> list[Part]:
        """One alert (or a system notice) in full; several parts when it is longer than one message
        may be. The first part carries the buttons; later edits edit the first."""

    def render_packed(
        self,
        notices: Sequence[Notice],
        destination: str,
        *,
        tail: Sequence[TailCount] = (),
        fit: bool = True,
        message_ref: int | None = None,
    ) -> tuple[Part, int]:
        """Several notices in ONE message, in the given order, as many as fit; returns the part and
        how many of `notices` it names (at least one). With fit=False (re-rendering a message that
        was already sent) all are included and the text is shortened safely if needed."""

    def send(self, destination: str, part: Part, *, reply_to: str | None = None) -> str | None:
        """Send one part; returns the service's message id (None when the service gives none)."""

    def edit(self, destination: str, remote_id: str, part: Part) -> None:
        """Replace the text (and extras) of a sent message."""


# abilities ---------------------------------------------------------------------------------------------
@runtime_checkable
class UsesChannelMap(Protocol):
    def use_channel_map(self, channel_map: ChannelMap) -> None:
        """Route by the channel map (given once, before the first `destinations`)."""


@runtime_checkable
class SendsPhotos(Protocol):
    def send_photo(self, destination: str, png: bytes, caption: str, *, reply_to: str | None = None,
                   thread_id: int | None = None, quiet: bool = True) -> str | None:
        """A PNG with a caption, as a reply to `reply_to` (the page); returns its message id."""


@runtime_checkable
class RendersReplies(Protocol):
    def render_reply(self, payload: Mapping[str, Any]) -> Part:
        """The answer to a command (a `reply` row's payload: `text`, ...) as one message."""


@runtime_checkable
class TakesCommands(Protocol):
    def take_commands(self, desk: CommandDesk) -> CommandIntake:
        """Start taking operators' commands and button presses: what runs them (`desk`: the
        actions, the operator console, a reply desk bound to this channel's lanes) in, the threads
        and HTTP endpoints that receive them out."""


@runtime_checkable
class Pager(Protocol):
    def home(self) -> str:
        """The channel's own destination (Telegram: TELEGRAM_CHAT_ID): the dead man's switch pages
        it, and rows queued before lanes existed go there."""


@runtime_checkable
class TakesDigest(Protocol):
    def digest_destination(self) -> str:
        """Where the daily digest goes."""


@runtime_checkable
class MentionsOncall(Protocol):
    def use_oncall(self, oncall_person: Callable[[datetime], Person | None]) -> None:
        """Who is on call at a time (`oncall_board.OncallBoard.oncall_person`): the channel mentions
        them in P0/P1 pages so their phone rings (given once, before the first render)."""


@runtime_checkable
class UsesStore(Protocol):
    def use_store(self, store: AlertStore) -> None:
        """Keep the channel's own state in the receiver's database (given once, before
        `take_commands` and the first send)."""


@runtime_checkable
class ReportsHealth(Protocol):
    def health(self) -> HealthSnapshot | None:
        """Whether the channel's calls got through lately, as this process saw them (None: nothing
        to say, e.g. a dry run)."""
