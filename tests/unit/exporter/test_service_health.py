"""ServiceHooks, the seeds' SystemMonitor: checks in the background, bounded, never raising into the bot."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter import D75Metrics, RateLimiterHooks, ServiceHooks


@pytest.fixture
def metrics(tmp_path: Path) -> D75Metrics:
    return D75Metrics(CollectorRegistry(), data_dir=tmp_path, process_collector=False)


def value(m: D75Metrics, name: str, service: str) -> float | None:
    return m.registry.get_sample_value(name, {"service": service})


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def hook_errors(m: D75Metrics, hook: str) -> float:
    return m.registry.get_sample_value("d75_exporter_hook_errors_total", {"hook": hook}) or 0.0


def test_report_sets_both_gauges_and_the_summary(metrics: D75Metrics) -> None:
    s = ServiceHooks(metrics)
    s.report("database", up=True, latency=0.004)
    s.report("binance_ws", up=False, latency=1.5, error="socket closed")
    assert value(metrics, "d75_service_up", "database") == 1.0
    assert value(metrics, "d75_service_check_duration_seconds", "database") == 0.004
    assert value(metrics, "d75_service_up", "binance_ws") == 0.0
    summary = s.status_summary()
    assert summary["status"] == "degraded" and (summary["up"], summary["down"], summary["total"]) == (1, 1, 2)
    ws = summary["services"]["binance_ws"]
    assert ws["up"] is False and ws["error"] == "socket closed" and ws["failures"] == 1 and ws["checks"] == 1
    assert summary["services"]["database"]["latency_seconds"] == 0.004
    s.report("binance_ws", up=True)   # latency optional: the duration keeps its last value
    assert s.status_summary()["status"] == "healthy"
    assert value(metrics, "d75_service_check_duration_seconds", "binance_ws") == 1.5


def test_summary_states() -> None:
    s = ServiceHooks(D75Metrics(process_collector=False))
    assert s.status_summary() == {"status": "unknown", "total": 0, "up": 0, "down": 0, "unknown": 0, "services": {}}
    s.report("a", False)
    assert s.status_summary()["status"] == "down"


def test_a_failing_or_raising_check_turns_the_service_down(metrics: D75Metrics) -> None:
    s = ServiceHooks(metrics)
    calls = {"n": 0}

    def flaky() -> bool:
        calls["n"] += 1
        return calls["n"] == 1          # up once, then down

    def broken() -> bool:
        raise ConnectionError("refused")

    s.register("flaky", flaky, every=0.05)
    s.register("broken", broken, every=0.05)
    try:
        wait_for(lambda: value(metrics, "d75_service_up", "broken") == 0.0)
        wait_for(lambda: calls["n"] >= 2 and value(metrics, "d75_service_up", "flaky") == 0.0)
        summary = s.status_summary()
        assert summary["services"]["broken"]["error"] == "ConnectionError: refused"
        assert summary["services"]["flaky"]["error"] == "check returned false"
        assert summary["status"] == "down"
        assert hook_errors(metrics, "service.check") == 0   # a failing check is a result, not a hook error
    finally:
        s.close()


def test_a_hung_check_is_cut_at_its_timeout_and_counts_as_down(metrics: D75Metrics) -> None:
    s = ServiceHooks(metrics)
    release = threading.Event()
    started = threading.Event()

    def hangs() -> bool:
        started.set()
        release.wait(30)
        return True

    t0 = time.monotonic()
    s.register("db", hangs, every=5.0, timeout=0.3)
    try:
        assert started.wait(5)
        wait_for(lambda: value(metrics, "d75_service_up", "db") == 0.0)
        cut = time.monotonic() - t0
        assert 0.3 <= cut < 3.0, cut    # cut at about its timeout, long before the check returns
        assert value(metrics, "d75_service_check_duration_seconds", "db") == 0.3
        assert s.status_summary()["services"]["db"]["error"] == "timed out after 0.3s"
        # while the hung run is still stuck, a new round does not start a second worker: down again
        assert s.check_all() == {"db": False}
        assert "hung" in s.status_summary()["services"]["db"]["error"]
        assert sum(1 for t in threading.enumerate() if t.name == "service-check-db-run") == 1
    finally:
        release.set()
        s.close()


def test_register_never_blocks_the_caller(metrics: D75Metrics) -> None:
    s = ServiceHooks(metrics)
    t0 = time.perf_counter()
    s.register("slow", lambda: time.sleep(1) or True, every=10, timeout=2)
    assert time.perf_counter() - t0 < 0.1
    s.close()


def test_check_all_runs_every_check_now(metrics: D75Metrics) -> None:
    s = ServiceHooks(metrics)
    s.register("a", lambda: True, every=3600)
    s.register("b", lambda: False, every=3600)
    try:
        assert s.check_all() == {"a": True, "b": False}
    finally:
        s.close()


def test_unregister_drops_the_series_and_stops_the_check(metrics: D75Metrics) -> None:
    s = ServiceHooks(metrics)
    runs = {"n": 0}
    s.register("old", lambda: runs.__setitem__("n", runs["n"] + 1) or True, every=0.05)
    wait_for(lambda: value(metrics, "d75_service_up", "old") == 1.0)
    s.unregister("old")
    n = runs["n"]
    time.sleep(0.3)
    assert runs["n"] <= n + 1
    assert 'service="old"' not in generate_latest(metrics.registry).decode()
    assert "old" not in s.status_summary()["services"]
    s.close()


@pytest.mark.parametrize("call, args", [
    ("report", (None, True)),
    ("report", ("", True)),
    ("report", ("db", True, -1.0)),
    ("report", ("db", True, float("nan"))),
    ("register", ("db", "not callable")),
    ("register", ("db", lambda: True, 0)),
    ("register", (None, lambda: True)),
    ("http", ("db", "ftp://example.com/")),
    ("unregister", (None,)),
])
def test_garbage_never_raises_and_is_counted(metrics: D75Metrics, call: str, args: tuple) -> None:
    s = ServiceHooks(metrics)
    assert getattr(s, call)(*args) is None
    assert hook_errors(metrics, f"service.{call}") + hook_errors(metrics, "service.register") >= 1
    s.close()


def test_metrics_none_is_a_noop() -> None:
    s = ServiceHooks(None)
    assert s.report("db", True, 0.1) is None
    assert s.register("db", lambda: True) is None
    assert s.http("db", "http://127.0.0.1:1/") is None
    assert s.unregister("db") is None
    assert s.check_all() == {}
    assert s.status_summary()["status"] == "unknown"
    s.close()


def test_rate_limit_capacity_is_set_once_and_when_it_changes(metrics: D75Metrics) -> None:
    r = RateLimiterHooks(metrics)
    b = r.bind("binance", "market_data")
    r.on_consume("binance", "order", 180, 1200)
    b.consume(300, 600)
    cap = lambda cat: metrics.registry.get_sample_value(  # noqa: E731
        "d75_rate_limit_capacity", {"exchange": "binance", "category": cat})
    assert cap("order") == 1200 and cap("market_data") == 600
    r.on_consume("binance", "order", 100, 1000)
    assert cap("order") == 1000
    r.remove("binance")
    assert cap("order") is None and cap("market_data") is None
    b.consume(10, 600)     # the same capacity after a retire: the series comes back
    r.on_consume("binance", "order", 100, 1000)
    assert cap("market_data") == 600 and cap("order") == 1000
    r.on_consume("binance", "order", 1, 0)        # refused (division), counted, nothing raised
    assert cap("order") == 1000
