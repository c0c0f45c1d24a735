"""Retention: history older than HISTORY_RETENTION_DAYS (default 90) and raw payloads older than
PAYLOAD_RETENTION_DAYS (default 14) are deleted in the background, in small batches.

Each batch is one short transaction (HISTORY_PRUNE_BATCH rows, default 1000) followed by a pause
(HISTORY_PRUNE_PAUSE_SECONDS), so a webhook never waits behind a long delete: on SQLite a batch
holds the single writer for a few milliseconds, on PostgreSQL it locks only the rows it deletes.
What is deleted, exactly: `webhook_receiver.store.prune_queries`. Rows still waiting for delivery are
never deleted, nor is an alert that is still firing, however old.

One receiver process prunes at a time (the `prune` lease); pruning is idempotent anyway.
`d76 db prune --older-than 30d [--dry-run]` runs the same code once from the command line.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..background import Periodic
from ..errors import StorageUnavailable
from ..store.base import AlertStore, utcnow
from ..store.episodes import HistoryTables
from ..store.prune_queries import PruneCounts, Retention
from .metrics import HistoryMetrics
from .settings import HistorySettings

__all__ = ["Pruner", "PruneWorker", "Cutoffs"]

log = logging.getLogger("d76.history.retention")


@dataclass(frozen=True)
class Cutoffs:
    history: datetime
    payloads: datetime


class Pruner:
    def __init__(self, store: AlertStore, *, batch: int = 1000, pause_seconds: float = 0.05,
                 metrics: HistoryMetrics | None = None) -> None:
        self.store = store
        self.retention = Retention(store)
        self.batch = batch
        self.pause_seconds = pause_seconds
        self.metrics = metrics

    @staticmethod
    def cutoffs(history_days: float, payload_days: float, now: datetime | None = None) -> Cutoffs:
        now = now or utcnow()
        return Cutoffs(now - timedelta(days=history_days), now - timedelta(days=payload_days))

    def dry_run(self, cut: Cutoffs) -> PruneCounts:
        return self.retention.count_prunable(cut.history, cut.payloads)

    def run(self, cut: Cutoffs, stop: threading.Event | None = None,
            on_batch: Callable[[PruneCounts], object] | None = None) -> PruneCounts:
        """Delete everything older than the cutoffs, batch by batch; stops early when `stop` is set."""
        total = PruneCounts()
        steps = (
            lambda: self.retention.prune_alerts_batch(cut.history, self.batch),
            lambda: self.retention.prune_orphans_batch(cut.history, self.batch),
            lambda: self.retention.prune_payloads_batch(cut.payloads, self.batch),
        )
        for step in steps:
            while not (stop is not None and stop.is_set()):
                got = step()
                total.merge(got)
                if self.metrics is not None:
                    for table, n in got.rows.items():
                        if n:
                            self.metrics.pruned.labels(table).inc(n)
                if on_batch is not None:
                    on_batch(got)
                if max(got.rows.get("alerts", 0), got.rows.get("webhook_payloads", 0),
                       got.rows.get("notifications", 0), got.rows.get("messages", 0)) < self.batch:
                    break
                if stop is not None:
                    if stop.wait(self.pause_seconds):
                        break
                elif self.pause_seconds:
                    time.sleep(self.pause_seconds)
        return total


class PruneWorker:
    """Prunes a while after start (5 minutes, or the interval when shorter: start-up has better
    things to do) and then every HISTORY_PRUNE_INTERVAL_SECONDS (`background.Periodic`)."""

    LEASE = "prune"

    def __init__(self, store: AlertStore, settings: HistorySettings, owner: str,
                 metrics: HistoryMetrics | None = None, first_delay: float = 300.0) -> None:
        self.settings = settings
        self.owner = owner
        self.metrics = metrics
        self.pruner = Pruner(store, batch=settings.prune_batch, pause_seconds=settings.prune_pause_seconds,
                             metrics=metrics)
        self.tables = HistoryTables(store)
        self.first_delay = min(first_delay, settings.prune_interval_seconds)
        self._stop = threading.Event()  # also ends a prune between two batches
        self._worker: Periodic | None = None

    def start(self) -> PruneWorker:
        delays = itertools.chain([self.first_delay], itertools.repeat(self.settings.prune_interval_seconds))
        self._worker = Periodic("history-prune", self._step, lambda: next(delays), log).start()
        return self

    def run_once(self) -> PruneCounts | None:
        """One complete prune if this process gets the lease; None otherwise."""
        s = self.settings
        # the lease outlives one batch by far; it is renewed between batches
        if not self.tables.acquire_lease(self.LEASE, self.owner, max(s.lease_seconds, 60.0)):
            return None
        t0 = time.monotonic()
        cut = Pruner.cutoffs(s.retention_days, s.payload_retention_days)
        try:
            counts = self.pruner.run(cut, self._stop, on_batch=lambda _: self.tables.acquire_lease(
                self.LEASE, self.owner, max(s.lease_seconds, 60.0)))
        finally:
            self.tables.release_lease(self.LEASE, self.owner)
        if self.metrics is not None:
            self.metrics.last_prune.set_to_current_time()
        if counts.total:
            log.info("history pruned", extra={"fields": {**counts.rows, "seconds": round(time.monotonic() - t0, 2),
                                                          "history_before": cut.history.isoformat(),
                                                          "payloads_before": cut.payloads.isoformat()}})
        return counts

    def _step(self) -> None:
        try:
            self.run_once()
        except StorageUnavailable as exc:
            log.warning("storage unavailable; pruning waits", extra={"fields": {"error": str(exc)[:200]}})

    def stop(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.stop(15)
            self._worker = None
