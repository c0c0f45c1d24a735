"""Notification channels: one module each, found through one registry.

`register` is the decorator a channel class uses. `channel_classes()` finds them all once, so nothing
lists the channels by hand: it imports every module of this package, then loads the entry points of
the group `d76.channels` (the standard packaging way for an installed distribution to add a
channel: `[project.entry-points."d76.channels"] mine = "my_package.my_channel:MyChannel"`; an entry
point may name the class or just its module, whose `@register` runs on import).
"""
from __future__ import annotations

import importlib
import pkgutil
import threading
from importlib.metadata import entry_points
from typing import TypeVar

from .base import (
    Channel,
    ChannelLimits,
    DeliveryError,
    Destination,
    Pager,
    Part,
    RendersReplies,
    ReportsHealth,
    SendsPhotos,
    TailCount,
    TakesCommands,
    TakesDigest,
    UsesChannelMap,
    UsesStore,
)

__all__ = [
    "Channel",
    "ChannelLimits",
    "DeliveryError",
    "Destination",
    "Part",
    "TailCount",
    "UsesChannelMap",
    "SendsPhotos",
    "RendersReplies",
    "TakesCommands",
    "Pager",
    "TakesDigest",
    "UsesStore",
    "ReportsHealth",
    "ENTRY_POINT_GROUP",
    "register",
    "channel_classes",
    "channel_names",
]

ENTRY_POINT_GROUP = "d76.channels"
_REGISTRY: dict[str, type[Channel]] = {}
_LOADED = False
_LOCK = threading.RLock()  # re-entrant: a module being imported may ask for the registry
C = TypeVar("C", bound=type[Channel])


def register(cls: C) -> C:
    """Class decorator: make a channel known to the planner, settings, dispatcher and channel map."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(f"{cls.__name__}: a channel needs a `name` that is an identifier")
    other = _REGISTRY.get(name)
    if other is not None and other is not cls and other.__qualname__ != cls.__qualname__:
        raise TypeError(f"channel name {name!r} is taken by {other.__qualname__}")
    _REGISTRY[name] = cls
    return cls


def _load() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if mod.name != "base":
            importlib.import_module(f"{__name__}.{mod.name}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found = ep.load()
        except Exception as exc:
            exc.add_note(f"loading the channel plug-in {ep.name} = {ep.value} (entry points {ENTRY_POINT_GROUP})")
            raise
        if isinstance(found, type):
            register(found)


def channel_classes() -> dict[str, type[Channel]]:
    """Every registered channel class by name (this package's modules and the plug-ins, loaded on
    first use)."""
    global _LOADED
    with _LOCK:
        if not _LOADED:
            _LOADED = True
            try:
                _load()
            except BaseException:
                _LOADED = False
                raise
    return dict(sorted(_REGISTRY.items()))


def channel_names() -> tuple[str, ...]:
    return tuple(channel_classes())
