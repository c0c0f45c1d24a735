"""Everything that happens after an alert is committed: the outbox, pacing, delivery to channels,
acknowledgements, the dead man's switch and the daily digest.

    settings.py     the core notification settings, parsed once (each channel parses its own)
    channel_map.py  severity -> channels and shares (generated from the catalog)
    outbox.py       the queue (rows written in the ingest transaction) and the messages sent
    planner.py      the ingest hook: alert changes -> outbox rows
    scheduling.py   what a lane's next slot carries (one alert, a packed message, an edit)
    pacing.py       the services' hard limits per lane; severity shares
    lanes.py        one process delivers a lane at a time (lease)
    dispatcher.py   the delivery threads
    actions.py      acknowledge / silence / mute: one path for the API, the buttons and the commands
    commands.py     the operator's Telegram commands, parsed (pure)
    operator.py     what each command does and its answer
    graphs.py       the PNG that follows a P0/P1 page, rendered in a thread of its own
    channels/       one module per channel behind one interface (`channels.base.Channel`) and small
                    abilities (photos, command answers, commands, pager, digest), plus plug-ins
                    found through the entry points `d76.channels`
    desk.py         what a channel that takes commands is given (actions, console, reply desk)
    service.py      the wiring: channels, planner, dispatcher, actions, threads
    deadman.py, digest.py, metrics.py

Imports go one way: the dispatcher knows channels, outbox and pacing; `service` wires it all and
`webhook_receiver.runtime` owns it. Nothing here imports the app (a channel that takes commands may
hand back a Flask blueprint: Telegram's webhook).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .service import NotifyService

__all__ = ["NotifyService"]


def __getattr__(name: str) -> Any:
    if name == "NotifyService":
        from .service import NotifyService

        return NotifyService
    raise AttributeError(name)
