"""Notification channels: one module each, found through one registry.

`register` is the decorator a channel class uses; `channel_classes()` imports every module in this
package once (so nothing lists the channels by hand) and returns them by name.
"""
from __future__ import annotations

import importlib
import pkgutil
import threading
from typing import TypeVar

from .base import Channel, ChannelLimits, DeliveryError, Destination, Part, TailCount

__all__ = [
    "Channel",
    "ChannelLimits",
    "DeliveryError",
    "Destination",
    "Part",
    "TailCount",
    "register",
    "channel_classes",
    "channel_names",
]

_REGISTRY: dict[str, type] = {}
_LOADED = False
_LOCK = threading.Lock()
T = TypeVar("T", bound=type)


def register(cls: T) -> T:
    """Class decorator: make a channel known to the planner, settings, dispatcher and channel map."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(f"{cls.__name__}: a channel needs a `name` that is an identifier")
    other = _REGISTRY.get(name)
    if other is not None and other is not cls and other.__qualname__ != cls.__qualname__:
        raise TypeError(f"channel name {name!r} is taken by {other.__qualname__}")
    _REGISTRY[name] = cls
    return cls


def channel_classes() -> dict[str, type]:
    """Every registered channel class by name (imports this package's modules on first use)."""
    global _LOADED
    with _LOCK:
        if not _LOADED:
            for mod in pkgutil.iter_modules(__path__):
                if mod.name not in ("base",):
                    importlib.import_module(f"{__name__}.{mod.name}")
            _LOADED = True
    return dict(sorted(_REGISTRY.items()))


def channel_names() -> tuple[str, ...]:
    return tuple(channel_classes())
