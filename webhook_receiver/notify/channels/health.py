"""Whether a channel's calls get through, as one process sees them: `CallHealth` records each call's
outcome, `HealthSnapshot` is what it says at one moment. A channel that keeps one exposes it through
the `ReportsHealth` ability (`channels.base`); the heartbeat (`notify.heartbeat`) reports every
receiver's snapshot to the database and tells the outside world the chain is broken when a channel's
calls have been failing, everywhere, for too long."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["CallHealth", "HealthSnapshot"]


@dataclass(frozen=True)
class HealthSnapshot:
    """The outcome of a channel's calls as one process saw them (wall clock, UTC): the last success,
    and the current failing streak (None when the last call succeeded)."""

    last_ok_at: datetime | None = None
    failing_since: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str | None = None


class CallHealth:
    """Whether calls to the service get through. A failure is what says the service (or the way to
    it, or the bot) is broken: timeouts, connection errors, 5xx, 401 (token revoked), 403 (the bot
    was removed), 404; an answer about one message (400: bad HTML, too long, migrated, gone) and a
    rate limit (429) are answers, so they count as the service working (the channel decides which is
    which and calls `ok` or `failed`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot = HealthSnapshot()

    def ok(self) -> None:
        with self._lock:
            self._snapshot = HealthSnapshot(last_ok_at=datetime.now(UTC))

    def failed(self, error: str) -> None:
        now = datetime.now(UTC)
        with self._lock:
            s = self._snapshot
            self._snapshot = HealthSnapshot(last_ok_at=s.last_ok_at, failing_since=s.failing_since or now,
                                            last_failure_at=now, last_error=error[:300])

    def snapshot(self) -> HealthSnapshot:
        with self._lock:
            return self._snapshot
