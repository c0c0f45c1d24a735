"""What the core offers a channel that takes operators' commands (`channels.base.TakesCommands`), and
what such a channel hands back.

The commands and buttons mean the same whatever channel they come from: the actions (acknowledge,
silence, mute) and the operator console (what each command does and answers) are the core's. The
channel only receives them (long polling, a webhook) and queues the answers through its `ReplyDesk`,
so they are paced with everything else sent to that destination.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vocabulary import NotificationKind

from ..background import Worker
from .outbox import Outbox

if TYPE_CHECKING:
    from flask import Blueprint

    from .actions import AlertActions
    from .operator import OperatorConsole

__all__ = ["CommandDesk", "CommandIntake", "ReplyDesk"]


class ReplyDesk:
    """Answers to commands go through the outbox, to the lane of the destination they came from (so
    they are paced with everything else sent there), and are found again by the message they became."""

    def __init__(self, outbox: Outbox, channel: str, on_queued: Callable[[], None] | None = None) -> None:
        self.outbox = outbox
        self.channel = channel
        self.on_queued = on_queued

    def queue(self, chat_id: str, payload: Mapping[str, Any], dedupe_key: str) -> None:
        n = self.outbox.enqueue_now([{"channel": self.channel, "destination": str(chat_id),
                                      "kind": NotificationKind.REPLY, "dedupe_key": dedupe_key[:500],
                                      "payload": dict(payload)}])
        if n and self.on_queued is not None:
            self.on_queued()

    def query_of(self, chat_id: str, message_id: int) -> dict[str, Any] | None:
        return self.outbox.reply_payload(str(chat_id), str(message_id))


@dataclass(frozen=True)
class CommandDesk:
    """Given to `TakesCommands.take_commands`: who acts (`actions`), who answers (`console`), where
    answers go (`replies`), and which errors are the user's to read (`action_errors`: Alertmanager
    refused or cannot be reached)."""

    actions: AlertActions
    console: OperatorConsole
    replies: ReplyDesk
    action_errors: tuple[type[Exception], ...] = ()


@dataclass
class CommandIntake:
    """What a channel taking commands runs: background workers (started and stopped with the
    notification service) and an HTTP blueprint (a webhook for updates), if any."""

    workers: list[Worker] = field(default_factory=list)
    blueprint: Blueprint | None = None
