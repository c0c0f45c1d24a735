"""Domain errors. `webhook_receiver.app` maps each to an HTTP status in one place."""
from __future__ import annotations

__all__ = [
    "ReceiverError",
    "PayloadError",
    "QueryError",
    "NotFoundError",
    "AuthError",
    "StorageUnavailable",
]


class ReceiverError(Exception):
    """Base class; `status` is the HTTP status the app answers with."""

    status = 500


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
