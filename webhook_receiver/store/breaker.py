"""A circuit breaker for a storage backend: while the database is known to be down, answer at once.

Without it, every request during an outage waits for a connection (the pool's checkout timeout)
before it can answer 503; a burst of 200 Alertmanager posts then queues behind a few worker threads
and the receiver stops answering anything, `/healthz` included, for minutes.

Closed (normal): calls go through. `trip(reason)` (a broken connection, a failed connect, no
connection within the checkout timeout) opens it: `check()` then raises `StorageUnavailable` at
once (the app answers 503 with Retry-After), and one background thread probes the database with
a fresh connection, first after `min_interval`, then backing off to `max_interval`. The first
successful probe closes the breaker and calls `on_recover` (the PostgreSQL store drains its pool so
no stale connection from before the outage is handed out). A false trip (the pool was merely busy)
costs one probe interval of 503s, which Alertmanager retries.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..errors import StorageUnavailable

__all__ = ["CircuitBreaker"]

log = logging.getLogger("webhook_receiver.store.breaker")


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        probe: Callable[[], None],
        on_recover: Callable[[], None] | None = None,
        min_interval: float = 0.25,
        max_interval: float = 2.0,
    ) -> None:
        self.name = name
        self._probe = probe
        self._on_recover = on_recover
        self.min_interval = min_interval
        self.max_interval = max_interval
        self._lock = threading.Lock()
        self._opened_at: float | None = None
        self._reason = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.trips = 0  # how many times it opened (tests, logs)

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def check(self) -> None:
        """Raise `StorageUnavailable` at once while open."""
        opened = self._opened_at
        if opened is not None:
            raise StorageUnavailable(
                f"{self.name}: unavailable for {time.monotonic() - opened:.1f}s ({self._reason}); "
                "reconnecting in the background"
            )

    def trip(self, reason: str) -> None:
        """Open (idempotent) and start the background probe."""
        with self._lock:
            if self._opened_at is not None or self._stop.is_set():
                return
            self._opened_at = time.monotonic()
            self._reason = reason[:200]
            self.trips += 1
            self._thread = threading.Thread(target=self._run, name=f"d76-{self.name}-probe", daemon=True)
            self._thread.start()
        log.warning("storage unavailable: answering 503 until it is back",
                    extra={"fields": {"backend": self.name, "reason": self._reason}})

    def shutdown(self, timeout: float = 2.0) -> None:
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    def _run(self) -> None:
        interval = self.min_interval
        attempts = 0
        while not self._stop.wait(interval):
            attempts += 1
            try:
                self._probe()
            except Exception as exc:  # noqa: BLE001 - any failure means "still down"
                with self._lock:
                    self._reason = _describe(exc)
                interval = min(interval * 2, self.max_interval)
                continue
            if self._on_recover is not None:
                try:
                    self._on_recover()
                except Exception:  # noqa: BLE001 - recovery hook failing must not keep us open
                    log.exception("storage recovery hook failed", extra={"fields": {"backend": self.name}})
            with self._lock:
                down_for = time.monotonic() - (self._opened_at or time.monotonic())
                self._opened_at = None
                self._thread = None
            log.info("storage available again",
                     extra={"fields": {"backend": self.name, "down_s": round(down_for, 2), "probes": attempts}})
            return


def _describe(exc: BaseException) -> str:
    """`Type: first line of the message` (driver messages never contain the password)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:160]}" if lines else type(exc).__name__
