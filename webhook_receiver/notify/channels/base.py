"""The one interface every notification channel implements, and the types it trades in.

A channel turns alert notices into messages for one kind of destination (a Telegram chat, a Slack
incoming webhook, ...) and sends them. It knows its own format and its service's limits; it knows
nothing of the outbox, pacing or the store: the dispatcher decides *when* and *what* (one alert, or
several packed into one message) and the channel decides *how*.

To add a channel: write one module in `webhook_receiver.notify.channels` with a class implementing
`Channel` and decorate it with `@register`. Settings, the planner, the dispatcher and the catalog's
channel map all read the registry.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from ..model import Notice

__all__ = ["Channel", "ChannelLimits", "DeliveryError", "Destination", "Part", "TailCount"]


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
    global_per_second: calls across all destinations (Telegram: ~30 a second per bot; 0 = none).
    """

    min_interval: float = 1.0
    per_minute: int = 20
    global_per_second: float = 0.0
    max_chars: int = 4096


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
    """One message as the channel will send it: its text plus channel-specific extras
    (Telegram: `reply_markup`, `message_thread_id`; Slack: blocks)."""

    text: str
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TailCount:
    """Alerts of one name counted, not named, in a packed message (beyond the naming bound)."""

    severity: str
    alertname: str
    kind: str  # firing | resolved
    count: int
    first_names: tuple[str, ...] = ()


@runtime_checkable
class Channel(Protocol):
    """What the dispatcher needs from a channel. Implementations are registered with `@register`."""

    name: ClassVar[str]
    #: setting names (environment) whose presence means "the operator configured this channel";
    #: any of them set turns notifications on by default
    settings_keys: ClassVar[tuple[str, ...]]
    #: True: one outbox row per alert event; False: the channel is fed otherwise (email digest)
    per_alert: ClassVar[bool]
    #: whether sent messages can be edited later (ack, resolve)
    can_edit: ClassVar[bool]
    limits: ChannelLimits

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
