"""The storage circuit breaker: open -> immediate StorageUnavailable; background probe closes it."""
from __future__ import annotations

import threading
import time

import pytest

from webhook_receiver.errors import StorageUnavailable
from webhook_receiver.store.breaker import CircuitBreaker


class FlakyDatabase:
    """Stands in for the database the probe connects to: down for `failures` probes, then up."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.probes = 0
        self.recovered = threading.Event()

    def probe(self) -> None:
        self.probes += 1
        if self.probes <= self.failures:
            raise ConnectionRefusedError("connection refused\nsecond line")

    def on_recover(self) -> None:
        self.recovered.set()


def test_trip_answers_at_once_then_probe_closes() -> None:
    db = FlakyDatabase(failures=3)
    b = CircuitBreaker("testdb", db.probe, db.on_recover, min_interval=0.01, max_interval=0.04)
    b.check()  # closed
    b.trip("connection lost")
    b.trip("again")  # idempotent: one probe thread, one trip
    assert b.is_open and b.trips == 1
    t0 = time.perf_counter()
    with pytest.raises(StorageUnavailable, match="testdb: unavailable"):
        b.check()
    assert time.perf_counter() - t0 < 0.05
    assert db.recovered.wait(5)
    deadline = time.monotonic() + 5
    while b.is_open and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not b.is_open and db.probes == 4
    b.check()
    b.trip("second outage")
    assert b.trips == 2
    b.shutdown()


def test_reason_names_the_last_probe_error_and_shutdown_stops_probing() -> None:
    db = FlakyDatabase(failures=10**9)
    b = CircuitBreaker("testdb", db.probe, min_interval=0.01, max_interval=0.02)
    b.trip("no connection within 1s")
    deadline = time.monotonic() + 5
    while db.probes < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    with pytest.raises(StorageUnavailable, match="ConnectionRefusedError: connection refused") as err:
        b.check()
    assert "second line" not in str(err.value)
    b.shutdown()
    n = db.probes
    time.sleep(0.1)
    assert db.probes <= n + 1 and b.is_open
    b.trip("after shutdown")  # ignored
    assert b.trips == 1
