"""The history jobs' own metrics, on the receiver's registry (or a fresh one)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from ..store.episodes import EPISODE_KINDS

__all__ = ["HistoryMetrics"]


class HistoryMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.polls = Counter("d76_history_reconcile_polls_total",
                             "Polls of Alertmanager by outcome (ok, partial: some replica unreachable, "
                             "unreachable: none answered, so nothing was resolved)", ["outcome"], registry=r)
        self.unchanged_polls = Counter("d76_history_reconcile_unchanged_polls_total",
                                       "Polls that found Alertmanager's listing, the stored firing alerts and the "
                                       "maintenance windows as the last poll left them (nothing compared further)",
                                       registry=r)
        self.replica_up = Gauge("d76_history_alertmanager_up",
                                "Whether each Alertmanager replica (by its position in ALERTMANAGER_URL) answered "
                                "the last poll", ["replica"], registry=r)
        self.reconciled = Counter("d76_history_reconciled_total",
                                  "Alerts resolved because Alertmanager no longer had them", registry=r)
        self.reopened = Counter("d76_history_reopened_total",
                                "Reconciled alerts Alertmanager listed again (a wrong resolution, corrected)",
                                registry=r)
        self.polled_alerts = Counter("d76_history_polled_alerts_stored_total",
                                     "Alerts first stored from Alertmanager's API (suppressed from the start)",
                                     registry=r)
        self.episodes = Counter("d76_history_suppressed_episodes_total",
                                "Silenced, inhibited or muted (maintenance window) episodes recorded", ["kind"],
                                registry=r)
        self.pruned = Counter("d76_history_pruned_rows_total", "Rows deleted by retention", ["table"], registry=r)
        self.last_prune = Gauge("d76_history_last_prune_timestamp_seconds",
                                "When the last complete prune finished", registry=r)
        for outcome in ("ok", "partial", "unreachable"):
            self.polls.labels(outcome)
        for kind in EPISODE_KINDS:
            self.episodes.labels(kind)
