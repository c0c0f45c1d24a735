"""Dead man's switch: when the Watchdog alert stops arriving, say so.

Watchdog always fires, so Alertmanager re-sends it every repeat_interval (1m) and the store bumps
its `last_received_at`. `DeadmanSwitch.check()` reads that from the store (so it works across
restarts and several receiver processes), and when it is older than the timeout queues ONE P0
"alerting pipeline is down" notification, then a recovery message when Watchdog returns. The
dedupe key carries the last-seen time, so several processes (or a restart) queue each only once.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from vocabulary import WATCHDOG, AlertStatus, NotificationKind, Severity

from ..background import Periodic
from ..store.base import AlertStore
from ..timefmt import as_utc
from .outbox import Lane, Outbox

__all__ = ["DeadmanSwitch", "watchdog_last_seen", "watchdog_status", "WatchdogStatus"]

log = logging.getLogger("d76.notify.deadman")


def watchdog_last_seen(store: AlertStore, watchdog: str = WATCHDOG) -> datetime | None:
    """When the Watchdog alert last arrived (any receiver on this database), or None."""
    with store.transaction(write=False) as tx:
        row = tx.fetchone("SELECT max(last_received_at) AS t FROM alerts WHERE alertname = %s", (watchdog,))
    return as_utc(store.dialect.time_out(row["t"])) if row and row["t"] is not None else None


class DeadmanSwitch:
    def __init__(self, store: AlertStore, outbox: Outbox, lane: Lane, timeout_seconds: float, *,
                 watchdog: str = WATCHDOG,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 on_queued: Callable[[], None] | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self.lane = lane  # the pager's home: where the page goes
        self.timeout = timeout_seconds
        self.watchdog = watchdog
        self.now = now
        self.on_queued = on_queued
        self.started_at = now()
        self.down = False
        self._restored = False
        self._down_since: datetime | None = None
        self._worker: Periodic | None = None

    def last_seen(self) -> datetime | None:
        return watchdog_last_seen(self.store, self.watchdog)

    def status(self) -> WatchdogStatus:
        return watchdog_status(self.store, self.watchdog)

    def _restore(self) -> None:
        """After a restart during an outage, pick the state up from the last deadman row so the
        recovery message still goes out (and the down message is not repeated)."""
        self._restored = True
        with self.store.transaction(write=False) as tx:
            row = tx.fetchone("SELECT payload FROM notifications WHERE kind = %s ORDER BY id DESC LIMIT 1",
                              (NotificationKind.DEADMAN,))
        payload = self.store.dialect.json_out(row["payload"]) if row else None
        if isinstance(payload, dict) and payload.get("down"):
            self.down = True
            self._down_since = as_utc(payload.get("at"))

    def check(self) -> str | None:
        """Returns "down"/"recovered" when it queued a message, else None."""
        if not self._restored:
            self._restore()
        now = self.now()
        status = self.status()
        seen = status.last_seen
        reference = seen or self.started_at  # never seen: count from our own start
        silent = (now - reference).total_seconds()
        # a resolved Watchdog is no sign of life: Alertmanager resolves it when Prometheus stops
        # renewing it (gone for longer than its endsAt), so the pipeline is down now, not in a timeout
        if not self.down and (silent > self.timeout or status.resolved):
            self._queue(True, silent, reference, resolved=status.resolved)
            self.down = True
            return "down"
        if self.down and seen is not None and silent <= self.timeout and not status.resolved:
            self._queue(False, (seen - self._down_since).total_seconds() if self._down_since else 0.0, seen)
            self.down = False
            return "recovered"
        return None

    def _queue(self, down: bool, silent_for: float, at: datetime, resolved: bool = False) -> None:
        if down:
            self._down_since = at
        key = f"deadman:{'down' if down else 'up'}:{at.isoformat()}"
        payload: dict[str, object] = {"down": down, "silent_for": silent_for, "at": at.isoformat()}
        if resolved:
            payload["resolved"] = True
        n = self.outbox.enqueue_now([{
            "channel": self.lane.channel, "destination": self.lane.destination, "kind": NotificationKind.DEADMAN,
            "severity": Severity.P0, "dedupe_key": key, "payload": payload}])
        log.warning("dead man's switch", extra={"fields": {
            "state": "down" if down else "recovered", "silent_for_s": round(silent_for), "queued": bool(n)}})
        if self.on_queued:
            self.on_queued()

    def start(self, interval: float | None = None) -> DeadmanSwitch:
        every = interval or max(1.0, min(30.0, self.timeout / 4))
        self._worker = Periodic("deadman", self.check, lambda: every, log).start()
        return self

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()


@dataclass(frozen=True)
class WatchdogStatus:
    """What the history says of the Watchdog: when it last arrived (any receiver on this database),
    and whether its newest occurrence is resolved (Alertmanager resolves it when Prometheus stops
    renewing it: Prometheus is gone, or no longer has the rule)."""

    last_seen: datetime | None
    resolved: bool


def watchdog_status(store: AlertStore, watchdog: str = WATCHDOG) -> WatchdogStatus:
    """`watchdog_last_seen` and the state of the newest occurrence (the heartbeat reads both)."""
    with store.transaction(write=False) as tx:
        row = tx.fetchone("SELECT status FROM alerts WHERE alertname = %s ORDER BY starts_at DESC, id DESC LIMIT 1",
                          (watchdog,))
    resolved = row is not None and row["status"] == AlertStatus.RESOLVED
    return WatchdogStatus(watchdog_last_seen(store, watchdog), resolved)
