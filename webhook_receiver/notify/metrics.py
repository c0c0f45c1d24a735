"""Notification metrics on the receiver's registry: deliveries by outcome and shape, rate limits,
retries, what was only counted in a storm, time to deliver, and the outbox depth (read from the
database at scrape time, so it counts every receiver's backlog)."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from vocabulary import SEVERITIES, WATCHDOG_SEVERITY, MessageShape, NotificationKind

if TYPE_CHECKING:
    from .outbox import Outbox

__all__ = ["NotifyMetrics", "OutboxDepthCollector", "OldestDueCollector"]

log = logging.getLogger("d76.notify.metrics")


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, channels: tuple[str, ...] = ()) -> None:
        """`channels`: the channels whose series exist from the start (default: every registered one)."""
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.sent = Counter("d76_notifications_sent_total", "Notifications told, by channel and kind",
                            ["channel", "kind"], registry=r)
        self.failed = Counter("d76_notifications_failed_total",
                              "Notifications given up on (permanent error or too many failures)",
                              ["channel", "kind"], registry=r)
        self.retries = Counter("d76_notifications_retries_total",
                               "Delivery attempts that failed (5xx, timeout, network) and were scheduled again",
                               ["channel"], registry=r)
        self.rate_limited = Counter("d76_notifications_rate_limited_total",
                                    "Calls answered 429 by the service (never counted as failures)",
                                    ["channel"], registry=r)
        self.messages = Counter("d76_notifications_messages_total",
                                "Messages sent or edited, by shape ("
                                + ", ".join(MessageShape) + ")",
                                ["channel", "shape"], registry=r)
        self.packed_alerts = Counter("d76_notifications_packed_alerts_total",
                                     "Alerts named in packed messages", ["channel"], registry=r)
        self.folded = Counter("d76_notifications_folded_total",
                              "Alerts only counted (beyond the naming bound) in a packed storm message",
                              ["severity"], registry=r)
        self.delivery_seconds = Histogram(
            "d76_notifications_delivery_seconds", "From queued (stored) to told, for firing notifications",
            ["channel", "severity"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300), registry=r)
        self.graph_failures = Counter(
            "d76_notifications_graph_failures_total",
            "Graphs that could not follow their page (Prometheus down or no data, rendering, sending); the page "
            "itself was told", ["reason"], registry=r)
        for reason in ("prometheus", "no_data", "render", "send", "missing"):
            self.graph_failures.labels(reason)
        # the series exist from the start, so rate() and the dashboard show 0 rather than nothing
        if not channels:
            from .channels import channel_names

            channels = channel_names()
        for channel in channels:
            for kind in (NotificationKind.FIRING, NotificationKind.RESOLVED):
                self.sent.labels(channel, kind)
                self.failed.labels(channel, kind)
            self.retries.labels(channel)
            self.rate_limited.labels(channel)
        for sev in SEVERITIES:
            self.folded.labels(sev)


class OutboxDepthCollector(Collector):
    """`d76_notifications_outbox_depth{channel}`: notifications not yet delivered (pending or in flight)."""

    def __init__(self, outbox: Outbox, channels: tuple[str, ...]) -> None:
        self.outbox = outbox
        self.channels = channels

    def collect(self) -> Iterator[GaugeMetricFamily]:
        fam = GaugeMetricFamily("d76_notifications_outbox_depth",
                                "Notifications queued but not yet delivered, by channel", labels=["channel"])
        try:
            counts = {c: 0 for c in self.channels}
            counts.update(self.outbox.depth())
        except Exception as exc:  # a scrape must not fail because storage is down; readyz says so
            log.warning("outbox depth unavailable", extra={"fields": {"error": type(exc).__name__}})
            return
        for channel, n in sorted(counts.items()):
            fam.add_metric([channel], n)
        yield fam


class OldestDueCollector(Collector):
    """`d76_notifications_oldest_due_age_seconds{channel,severity}`: how long the oldest notification
    that should have gone out by now has waited (0: nothing waiting), read at scrape time.

    A row waits from when it was queued (`created_at`) while it is undelivered (pending or being
    sent) and due (`next_attempt_at` has passed) or already tried (a row backing off after 5xx or a
    429 is still waiting). One grouped query per scrape; every receiver on one database reports the
    same numbers (the catalog's pipeline alerts take the max). Rows without a severity (command
    answers) count as `none`. The pipeline alert NotificationsP0Waiting reads it."""

    def __init__(self, outbox: Outbox, channels: tuple[str, ...]) -> None:
        self.outbox = outbox
        self.channels = channels

    def collect(self) -> Iterator[GaugeMetricFamily]:
        fam = GaugeMetricFamily("d76_notifications_oldest_due_age_seconds",
                                "Age of the oldest due, undelivered notification (0: none waiting)",
                                labels=["channel", "severity"])
        ages = {(c, sev): 0.0 for c in self.channels for sev in SEVERITIES}
        try:
            store = self.outbox.store
            d = store.dialect
            with store.transaction(write=False) as tx:
                rows = tx.fetchall(
                    "SELECT channel, severity, min(created_at) AS oldest FROM notifications "
                    "WHERE status IN ('pending', 'sending') AND (next_attempt_at <= %s OR attempts > 0) "
                    "GROUP BY channel, severity", (d.time_in(tx.now),))
                now = tx.now
            for r in rows:
                oldest = d.time_out(r["oldest"])
                if oldest is not None:
                    ages[(r["channel"], r["severity"] or WATCHDOG_SEVERITY)] = max(0.0, (now - oldest).total_seconds())
        except Exception as exc:  # a scrape must not fail because storage is down; storage_up says so
            log.warning("oldest due notification unavailable", extra={"fields": {"error": type(exc).__name__}})
            return
        for (channel, severity), age in sorted(ages.items()):
            fam.add_metric([channel, severity], round(age, 3))
        yield fam
