"""Wiring: the reconciler and the pruner for one receiver, started and stopped with its runtime (like
the notification service)."""
from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from ..alertmanager_api import AlertmanagerClient
from ..background import process_owner_id
from ..settings import redact_url
from ..store.base import AlertStore
from ..store.changes import IngestHook
from .metrics import HistoryMetrics
from .reconcile import MutedBy, Reconciler, ReconcileWorker, WindowState
from .retention import PruneWorker
from .settings import HistorySettings

__all__ = ["HistoryService"]

log = logging.getLogger("d76.history")


class HistoryService:
    def __init__(self, store: AlertStore, settings: HistorySettings, *, hook: Callable[[], IngestHook] | None = None,
                 registry: CollectorRegistry | None = None, client: AlertmanagerClient | None = None,
                 windows: MutedBy | None = None, window_state: WindowState | None = None) -> None:
        self.settings = settings
        self.owner = process_owner_id(8)
        self.metrics = HistoryMetrics(registry)
        self.reconciler = Reconciler(store, settings, client=client, hook=hook, metrics=self.metrics, windows=windows,
                                     window_state=window_state) if settings.reconcile_enabled else None
        self.reconcile_worker = ReconcileWorker(self.reconciler, self.owner) if self.reconciler else None
        self.prune_worker = PruneWorker(store, settings, self.owner, self.metrics) if settings.prune_enabled else None

    def start(self) -> HistoryService:
        if self.reconcile_worker is not None:
            self.reconcile_worker.start()
        if self.prune_worker is not None:
            self.prune_worker.start()
        s = self.settings
        log.info("history jobs started", extra={"fields": {
            "reconcile": "on" if self.reconcile_worker else "off (set ALERTMANAGER_URL or HISTORY_RECONCILE=true)",
            "alertmanagers": [redact_url(u) for u in s.alertmanager_urls] if self.reconcile_worker else [],
            "interval_s": s.reconcile_interval_seconds, "missing_polls": s.reconcile_missing_polls,
            "retention_days": s.retention_days, "payload_retention_days": s.payload_retention_days,
            "prune": "on" if self.prune_worker else "off"}})
        return self

    def stop(self) -> None:
        if self.reconcile_worker is not None:
            self.reconcile_worker.stop()
        if self.prune_worker is not None:
            self.prune_worker.stop()
