"""The one error type every channel raises, so the dispatcher can decide: retry, wait, or give up."""
from __future__ import annotations

__all__ = ["DeliveryError"]


class DeliveryError(Exception):
    """A delivery failed.

    permanent: retrying cannot help (400 "can't parse entities", 403 bot blocked, bad webhook URL).
    retry_after: the service told us how long to wait (Telegram `parameters.retry_after`, Discord's
    JSON `retry_after`, a `Retry-After` header); the dispatcher honours it instead of its own backoff.
    The message never contains a token or a webhook URL.
    """

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.status = status

    @property
    def kind(self) -> str:
        if self.permanent:
            return "permanent"
        return "rate_limited" if self.retry_after is not None else "retryable"
