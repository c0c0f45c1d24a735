"""Domain errors. `webhook_receiver.app` maps each to an HTTP status in one place.

Messages often quote client input; they are made storable (`storable.clean_text`) when the error
is built, because a lone surrogate in a message cannot be encoded into the JSON answer or a log line.
"""
from __future__ import annotations

from .storable import clean_text

__all__ = [
    "ReceiverError",
    "PayloadError",
    "QueryError",
    "NotFoundError",
    "AuthError",
    "StorageUnavailable",
    "UnstorableInput",
]


class ReceiverError(Exception):
    """Base class; `status` is the HTTP status the app answers with."""

    status = 500

    def __init__(self, *args: object) -> None:
        super().__init__(*(clean_text(a) if isinstance(a, str) else a for a in args))


class PayloadError(ReceiverError):
    """The webhook body is not valid JSON or not an Alertmanager version 4 payload."""

    status = 400


class QueryError(ReceiverError):
    """A bad query parameter or request body field; `param` names it."""

    status = 400

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param


class NotFoundError(ReceiverError, LookupError):
    status = 404


class AuthError(ReceiverError):
    status = 401


class StorageUnavailable(ReceiverError):
    """Storage cannot be reached or written right now; callers should retry (503)."""

    status = 503


class UnstorableInput(ReceiverError):
    """A value the storage backend refused as data (a character or number it cannot hold). The
    input edges clean what they know of (`storable`); this is the net under them: a clear 400
    instead of a 500 that a client would retry forever."""

    status = 400
