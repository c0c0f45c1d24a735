"""The receiver's own Prometheus metrics, on a registry of its own (never the global one)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from vocabulary import SEVERITIES

__all__ = ["ReceiverMetrics", "StorageUpCollector"]


class ReceiverMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "d76_receiver_requests_total", "HTTP requests by endpoint, method and status",
            ["endpoint", "method", "status"], registry=self.registry,
        )
        self.alerts_stored = Counter(
            "d76_receiver_alerts_stored_total", "Alert occurrences stored for the first time, by severity",
            ["severity"], registry=self.registry,
        )
        self.alerts_received = Counter(
            "d76_receiver_alerts_received_total", "Alerts received in webhook payloads (repeats included), by status",
            ["status"], registry=self.registry,
        )
        self.storage_errors = Counter(
            "d76_receiver_storage_errors_total", "Requests answered 503 because storage was unavailable",
            ["operation"], registry=self.registry,
        )
        self.payload_errors = Counter(
            "d76_receiver_bad_payloads_total", "Webhook bodies rejected with 400", registry=self.registry,
        )
        self.ingest_seconds = Histogram(
            "d76_receiver_ingest_duration_seconds", "Time to parse and durably store one webhook payload",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "d76_receiver_request_duration_seconds", "HTTP request latency by endpoint",
            ["endpoint"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        # series that exist from the start: dashboards and rate() show 0 instead of nothing
        self.storage_errors.labels("/webhook/alertmanager")
        for sev in SEVERITIES:
            self.alerts_stored.labels(sev)
        for status in ("firing", "resolved"):
            self.alerts_received.labels(status)


class StorageUpCollector(Collector):
    """`d76_receiver_storage_up`: 1 while the storage circuit breaker is closed, 0 while it is open
    (`store.breaker`: the database is known to be down and requests get 503 at once). A store
    without a breaker (SQLite, a local file) reports 1; its failures show as 503s in
    `d76_receiver_storage_errors_total`. Read at scrape time, no query: the pipeline alert
    ReceiverStorageDown watches it."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        breaker = getattr(self.store, "breaker", None)
        up = 0.0 if breaker is not None and breaker.is_open else 1.0
        fam = GaugeMetricFamily("d76_receiver_storage_up",
                                "1 while the receiver's storage is usable, 0 while its circuit breaker is open")
        fam.add_metric([], up)
        yield fam
