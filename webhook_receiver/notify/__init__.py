"""Everything that happens after an alert is committed: the outbox, pacing, delivery to channels,
acknowledgements, the dead man's switch and the daily digest.

    settings.py     every notification setting, parsed once
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
    channels/       one module per channel behind one interface (`channels.base.Channel`)
    deadman.py, digest.py, metrics.py

Imports go one way: channels know only the model; the dispatcher knows channels, outbox and
pacing; `init_app` wires it all into a Flask app. Nothing here imports the HTTP layer.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .service import NotifyService

__all__ = ["init_app", "NotifyService"]


def init_app(app: Any, store: Any, raw: Mapping[str, str] | None, *, start: bool = True) -> NotifyService | None:
    from .service import init_app as _init

    return _init(app, store, raw, start=start)


def __getattr__(name: str) -> Any:
    if name == "NotifyService":
        from .service import NotifyService

        return NotifyService
    raise AttributeError(name)
