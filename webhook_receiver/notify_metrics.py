"""Notification metrics on the receiver's registry: deliveries by outcome, retries, pacing folds,
and the outbox depth (read from the store at scrape time, so it counts every receiver's backlog)."""
from __future__ import annotations

import logging
from typing import Any, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["NotifyMetrics", "OutboxDepthCollector"]

log = logging.getLogger("d76.notify.metrics")


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.sent = Counter("d76_notifications_sent_total", "Notifications delivered, by channel and kind",
                            ["channel", "kind"], registry=self.registry)
        self.failed = Counter("d76_notifications_failed_total",
                              "Notifications given up on (permanent error or too many failures)",
                              ["channel", "kind"], registry=self.registry)
        self.retries = Counter("d76_notifications_retries_total",
                               "Delivery attempts that failed and were scheduled again", ["channel"],
                               registry=self.registry)
        self.folded = Counter("d76_notifications_folded_total",
                              "Over-budget Telegram notifications folded into a storm summary", ["severity"],
                              registry=self.registry)
        # the series exist from the start, so rate() and the dashboard show 0 rather than nothing
        for channel in ("telegram", "slack", "discord", "email"):
            for kind in ("firing", "resolved"):
                self.sent.labels(channel, kind)
                self.failed.labels(channel, kind)
            self.retries.labels(channel)
        for sev in ("P0", "P1", "P2", "P3"):
            self.folded.labels(sev)


class OutboxDepthCollector(Collector):
    """`d76_notifications_outbox_depth{channel}`: notifications not yet delivered (pending or in flight)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        fam = GaugeMetricFamily("d76_notifications_outbox_depth",
                                "Notifications queued but not yet delivered, by channel", labels=["channel"])
        counts = {"telegram": 0, "slack": 0, "discord": 0, "email": 0}
        try:
            with self.store.transaction(write=False) as tx:
                for row in tx.fetchall("SELECT channel, count(*) AS n FROM notifications "
                                       "WHERE status IN ('pending', 'sending') GROUP BY channel"):
                    counts[row["channel"]] = int(row["n"])
        except Exception as exc:  # a scrape must not fail because storage is down; readyz says so
            log.warning("outbox depth unavailable", extra={"fields": {"error": type(exc).__name__}})
            return
        for channel, n in sorted(counts.items()):
            fam.add_metric([channel], n)
        yield fam
