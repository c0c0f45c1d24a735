"""Webhook receiver: Alertmanager payloads in, durable alert history, query API, outbox seam.

`create_app` is imported lazily so that importing a submodule (e.g. `webhook_receiver.payload`)
does not load Flask.
"""
from __future__ import annotations

from typing import Any

__all__ = ["create_app", "Settings", "load_settings"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name in ("Settings", "load_settings"):
        from . import settings

        return getattr(settings, name)
    raise AttributeError(name)
