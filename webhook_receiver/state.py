"""The receiver's runtime as the views see it (flaskr style): `create_app` keeps one
`ReceiverRuntime` in `app.extensions`; views and error handlers reach the store, settings, metrics,
outbox and actions through `runtime()`, never through the app module."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from .runtime import ReceiverRuntime

__all__ = ["runtime", "EXTENSION"]

EXTENSION = "d76_receiver"


def runtime() -> ReceiverRuntime:
    """The current app's runtime (inside a request or an app context)."""
    rt: ReceiverRuntime = current_app.extensions[EXTENSION]
    return rt
