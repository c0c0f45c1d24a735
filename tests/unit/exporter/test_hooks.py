"""Hooks: what each one records, that metrics=None is a no-op, and that no input can make one raise."""
from __future__ import annotations

import enum
import logging
import math
import threading
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

import exporter._hooks as hooks_mod
from exporter import (
    ArbRouteHooks,
    ArbUniverseHooks,
    CrossSyncHooks,
    D75Metrics,
    ExchangeHealthHooks,
    GuardState,
    HealthStatus,
    RateLimiterHooks,
    RiskGuardHooks,
)


@pytest.fixture
def m(tmp_path: Path) -> D75Metrics:
    return D75Metrics(CollectorRegistry(), data_dir=tmp_path, process_collector=False)


def errors(m: D75Metrics, hook: str) -> float:
    return m.registry.get_sample_value("d75_exporter_hook_errors_total", {"hook": hook}) or 0.0


# -- rate limiter -----------------------------------------------------------------------------------
def test_rate_limiter_records_and_creates_counters_at_zero(m: D75Metrics) -> None:
    h = RateLimiterHooks(m)
    v = m.registry.get_sample_value
    lbl = {"exchange": "binance", "category": "order"}
    h.on_consume("binance", "order", 300, 1200)
    assert v("d75_rate_limit_remaining_ratio", lbl) == 0.25
    # first sight of a label set creates both counters at 0 so increase() sees the first event
    assert v("d75_rate_limit_rejected_total", lbl) == 0
    assert v("d75_rate_limit_http_429_total", lbl) == 0
    h.on_reject("binance", "order")
    h.on_reject("binance", "order", count=3)
    h.on_http_429("binance", "order")
    assert v("d75_rate_limit_rejected_total", lbl) == 4
    assert v("d75_rate_limit_http_429_total", lbl) == 1
    # out-of-range but finite: clamped, not refused (capacity shrank, or a debt-style bucket)
    h.on_consume("binance", "order", 1500, 1200)
    assert v("d75_rate_limit_remaining_ratio", lbl) == 1.0
    h.on_consume("binance", "order", -5, 1200)
    assert v("d75_rate_limit_remaining_ratio", lbl) == 0.0
    assert errors(m, "rate_limiter.on_consume") == 0


def test_rate_limiter_bound_bucket(m: D75Metrics) -> None:
    h = RateLimiterHooks(m)
    b = h.bind("okx", "market_data")
    lbl = {"exchange": "okx", "category": "market_data"}
    v = m.registry.get_sample_value
    # no ratio series until the first consume: a gauge born at 0 would read as an empty bucket
    assert v("d75_rate_limit_remaining_ratio", lbl) is None
    assert v("d75_rate_limit_rejected_total", lbl) == 0
    b.consume(600, 1200)
    b.reject()
    b.http_429(2)
    assert v("d75_rate_limit_remaining_ratio", lbl) == 0.5
    assert v("d75_rate_limit_rejected_total", lbl) == 1
    assert v("d75_rate_limit_http_429_total", lbl) == 2
    # the unbound API and the bound one share children
    h.on_consume("okx", "market_data", 120, 1200)
    assert v("d75_rate_limit_remaining_ratio", lbl) == 0.1


# -- exchange health --------------------------------------------------------------------------------
class BotStatus(enum.Enum):       # the bot's own enum, string values
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"
    FROZEN = "frozen"


class OtherStatus(enum.IntEnum):  # an enum whose names differ but values match
    OK = 0
    SLOW = 1


@pytest.mark.parametrize("status, expected", [
    (0, 0), (3, 3), ("DOWN", 2), ("frozen", 3), (" Degraded ", 1), (HealthStatus.FROZEN, 3),
    (BotStatus.DOWN, 2), (OtherStatus.SLOW, 1),
])
def test_exchange_status_accepts_int_name_and_enums(m: D75Metrics, status: object, expected: int) -> None:
    ExchangeHealthHooks(m).on_status("upbit", status)
    assert m.registry.get_sample_value("d75_exchange_health_status", {"exchange": "upbit"}) == expected


def test_exchange_health_records(m: D75Metrics) -> None:
    h = ExchangeHealthHooks(m)
    v = m.registry.get_sample_value
    h.on_rest_latency("upbit", 0.3)
    h.on_orderbook_update("upbit", ts=123.5)
    h.on_request("upbit", ok=True)
    h.on_request("upbit", ok=True, count=9)
    h.on_request("upbit", ok=False)
    assert v("d75_exchange_rest_latency_seconds", {"exchange": "upbit"}) == 0.3
    assert v("d75_exchange_orderbook_last_update_timestamp_seconds", {"exchange": "upbit"}) == 123.5
    assert v("d75_exchange_requests_total", {"exchange": "upbit", "outcome": "ok"}) == 10
    assert v("d75_exchange_requests_total", {"exchange": "upbit", "outcome": "error"}) == 1
    import time as time_mod
    before = time_mod.time()
    h.on_orderbook_update("upbit")
    ts = v("d75_exchange_orderbook_last_update_timestamp_seconds", {"exchange": "upbit"})
    assert before <= ts <= time_mod.time()


def test_exchange_health_bound(m: D75Metrics) -> None:
    h = ExchangeHealthHooks(m)
    ex = h.bind("kraken")
    v = m.registry.get_sample_value
    # nothing but the request counters exists before the bot reports: no fake timestamp 0
    assert v("d75_exchange_orderbook_last_update_timestamp_seconds", {"exchange": "kraken"}) is None
    assert v("d75_exchange_health_status", {"exchange": "kraken"}) is None
    assert v("d75_exchange_requests_total", {"exchange": "kraken", "outcome": "error"}) == 0
    ex.status("FROZEN")
    ex.rest_latency(2.5)
    ex.orderbook_update(99.0)
    ex.request(False, 2)
    ex.request(True)
    assert v("d75_exchange_health_status", {"exchange": "kraken"}) == 3
    assert v("d75_exchange_rest_latency_seconds", {"exchange": "kraken"}) == 2.5
    assert v("d75_exchange_orderbook_last_update_timestamp_seconds", {"exchange": "kraken"}) == 99.0
    assert v("d75_exchange_requests_total", {"exchange": "kraken", "outcome": "error"}) == 2
    assert v("d75_exchange_requests_total", {"exchange": "kraken", "outcome": "ok"}) == 1


# -- routes, universe, sync, guard ------------------------------------------------------------------
def test_route_and_universe(m: D75Metrics) -> None:
    r, u = ArbRouteHooks(m), ArbUniverseHooks(m)
    v = m.registry.get_sample_value
    r.on_score("upbit-binance-BTC", 91)
    r.on_spread("upbit-binance-BTC", -3.5)           # a negative spread is a real market state
    u.on_states({"a": "active", "b": "SKIP", "c": "active"})
    assert v("d75_route_score", {"route": "upbit-binance-BTC"}) == 91
    assert v("d75_route_spread_bps", {"route": "upbit-binance-BTC"}) == -3.5
    assert v("d75_universe_routes", {"state": "active"}) == 2
    assert v("d75_universe_routes", {"state": "skip"}) == 1
    u.on_counts(0, 12)
    assert v("d75_universe_routes", {"state": "active"}) == 0
    r.on_score("upbit-binance-BTC", 101)             # out of range: refused, old value kept
    assert v("d75_route_score", {"route": "upbit-binance-BTC"}) == 91
    assert errors(m, "arb_route.on_score") == 1


def test_cross_sync(m: D75Metrics) -> None:
    s = CrossSyncHooks(m)
    v = m.registry.get_sample_value
    s.on_snapshot({"BTC": 0.1, "ETH": 0.6}, {"BTC": 5000, "ETH": 700}, capital_usd=100_000)
    assert v("d75_inventory_imbalance_ratio", {"symbol": "ETH"}) == 0.6
    assert v("d75_exposure_usd", {"symbol": "BTC"}) == 5000
    assert v("d75_capital_usd") == 100_000
    for _ in range(3):
        s.on_rebalance("BTC", ok=False)
    assert v("d75_rebalance_consecutive_failures", {"symbol": "BTC"}) == 3
    s.on_rebalance("BTC", ok=True)
    assert v("d75_rebalance_consecutive_failures", {"symbol": "BTC"}) == 0
    s.on_rebalance_failures("ETH", 5)
    s.on_rebalance("ETH", ok=False)                  # continues from the bot-reported count
    assert v("d75_rebalance_consecutive_failures", {"symbol": "ETH"}) == 6
    s.on_sync_result("upbit", ok=True)               # creates the counter at 0
    assert v("d75_inventory_sync_failures_total", {"exchange": "upbit"}) == 0
    s.on_sync_failure("upbit")
    assert v("d75_inventory_sync_failures_total", {"exchange": "upbit"}) == 1
    # a bad snapshot entry is counted and skipped; the good ones are still recorded
    s.on_snapshot({"XRP": float("nan"), "SOL": 0.2}, {})
    assert v("d75_inventory_imbalance_ratio", {"symbol": "SOL"}) == 0.2
    assert v("d75_inventory_imbalance_ratio", {"symbol": "XRP"}) is None
    assert errors(m, "cross_sync.on_snapshot") == 1


def test_risk_guard(m: D75Metrics) -> None:
    g = RiskGuardHooks(m)
    v = m.registry.get_sample_value
    g.on_decision("global", "global", GuardState.BLOCK)
    g.on_decision("route", "upbit-binance-BTC", "cooldown")
    g.on_decision("SYMBOL", "BTC", 1)
    assert v("d75_riskguard_state", {"tier": "global", "scope": "global"}) == 3
    assert v("d75_riskguard_state", {"tier": "route", "scope": "upbit-binance-BTC"}) == 2
    assert v("d75_riskguard_state", {"tier": "symbol", "scope": "BTC"}) == 1
    g.on_decision("planet", "earth", "BLOCK")
    assert errors(m, "risk_guard.on_decision") == 1
    assert "planet" not in generate_latest(m.registry).decode()
    g.on_daily_pnl("upbit", -12_000)
    g.on_loss_streak("upbit-binance-BTC", 3)
    g.on_drawdown("BTC", 0.25)
    g.on_volatility("BTC", 0.12)
    assert v("d75_daily_pnl_usd", {"exchange": "upbit"}) == -12_000
    assert v("d75_route_loss_streak", {"route": "upbit-binance-BTC"}) == 3
    assert v("d75_symbol_drawdown_ratio", {"symbol": "BTC"}) == 0.25
    assert v("d75_symbol_volatility_ratio", {"symbol": "BTC"}) == 0.12


# -- no metrics: no-op ------------------------------------------------------------------------------
ALL_CALLS: list[tuple[type, str, tuple[Any, ...]]] = [
    (RateLimiterHooks, "on_consume", ("ex", "order", 1, 2)),
    (RateLimiterHooks, "on_reject", ("ex", "order")),
    (RateLimiterHooks, "on_http_429", ("ex", "order")),
    (ExchangeHealthHooks, "on_status", ("ex", 1)),
    (ExchangeHealthHooks, "on_rest_latency", ("ex", 0.1)),
    (ExchangeHealthHooks, "on_orderbook_update", ("ex",)),
    (ExchangeHealthHooks, "on_request", ("ex", True)),
    (ArbRouteHooks, "on_score", ("r", 50)),
    (ArbRouteHooks, "on_spread", ("r", 50)),
    (ArbUniverseHooks, "on_counts", (1, 1)),
    (ArbUniverseHooks, "on_states", ({"r": "active"},)),
    (CrossSyncHooks, "on_inventory", ("BTC", 0.1, 10.0)),
    (CrossSyncHooks, "on_snapshot", ({"BTC": 0.1}, {"BTC": 1.0}, 5.0)),
    (CrossSyncHooks, "on_capital", (5.0,)),
    (CrossSyncHooks, "on_rebalance", ("BTC", False)),
    (CrossSyncHooks, "on_rebalance_failures", ("BTC", 2)),
    (CrossSyncHooks, "on_sync_result", ("ex", False)),
    (CrossSyncHooks, "on_sync_failure", ("ex",)),
    (RiskGuardHooks, "on_decision", ("exchange", "ex", 3)),
    (RiskGuardHooks, "on_daily_pnl", ("ex", -1.0)),
    (RiskGuardHooks, "on_loss_streak", ("r", 1)),
    (RiskGuardHooks, "on_drawdown", ("BTC", 0.1)),
    (RiskGuardHooks, "on_volatility", ("BTC", 0.1)),
    (RateLimiterHooks, "remove", ("ex",)),
    (ExchangeHealthHooks, "remove", ("ex",)),
    (ArbRouteHooks, "remove", ("r",)),
    (CrossSyncHooks, "remove_symbol", ("BTC",)),
    (CrossSyncHooks, "remove_exchange", ("ex",)),
    (RiskGuardHooks, "remove_exchange", ("ex",)),
    (RiskGuardHooks, "remove_route", ("r",)),
    (RiskGuardHooks, "remove_symbol", ("BTC",)),
]


def test_every_hook_method_is_listed_for_the_noop_mode() -> None:
    listed = {(cls, name) for cls, name, _ in ALL_CALLS}
    for cls in {c for c, _, _ in ALL_CALLS}:
        public = {n for n in vars(cls) if n.startswith(("on_", "remove"))}
        assert public == set(cls.hook_methods), cls
        assert {(cls, n) for n in public} <= listed, cls


@pytest.mark.parametrize("cls, name, args", ALL_CALLS, ids=[f"{c.__name__}.{n}" for c, n, _ in ALL_CALLS])
def test_metrics_none_is_a_noop(cls: type, name: str, args: tuple[Any, ...]) -> None:
    assert getattr(cls(None), name)(*args) is None


def test_bind_without_metrics_gives_noop_objects() -> None:
    b = RateLimiterHooks(None).bind("ex", "order")
    b.consume(1, 2), b.reject(), b.http_429()
    e = ExchangeHealthHooks(None).bind("ex")
    e.status(3), e.rest_latency(1.0), e.orderbook_update(), e.request(False)


# -- garbage in: never raises, counted, no junk series ----------------------------------------------
NAN, INF = float("nan"), float("inf")
GARBAGE: list[tuple[type, str, tuple[Any, ...]]] = [
    (RateLimiterHooks, "on_consume", (None, "order", 1, 2)),
    (RateLimiterHooks, "on_consume", ("ex", None, 1, 2)),
    (RateLimiterHooks, "on_consume", ("", "order", 1, 2)),
    (RateLimiterHooks, "on_consume", (["unhashable"], "order", 1, 2)),
    (RateLimiterHooks, "on_consume", ("ex", "order", NAN, 2)),
    (RateLimiterHooks, "on_consume", ("ex", "order", 1, 0)),
    (RateLimiterHooks, "on_consume", ("ex", "order", "1", 2)),
    (RateLimiterHooks, "on_consume", ("ex", "order", None, None)),
    (RateLimiterHooks, "on_reject", ("ex", "order", -1)),
    (RateLimiterHooks, "on_reject", (42, "order")),
    (RateLimiterHooks, "on_http_429", ("ex", "order", "many")),
    (ExchangeHealthHooks, "on_status", ("ex", 7)),
    (ExchangeHealthHooks, "on_status", ("ex", "EXPLODED")),
    (ExchangeHealthHooks, "on_status", ("ex", None)),
    (ExchangeHealthHooks, "on_status", ("ex", True)),
    (ExchangeHealthHooks, "on_status", (None, 1)),
    (ExchangeHealthHooks, "on_rest_latency", ("ex", NAN)),
    (ExchangeHealthHooks, "on_rest_latency", ("ex", -0.1)),
    (ExchangeHealthHooks, "on_rest_latency", ("ex", INF)),
    (ExchangeHealthHooks, "on_rest_latency", ("ex", "fast")),
    (ExchangeHealthHooks, "on_orderbook_update", ("ex", NAN)),
    (ExchangeHealthHooks, "on_orderbook_update", ("ex", object())),
    (ExchangeHealthHooks, "on_request", (None, True)),
    (ExchangeHealthHooks, "on_request", ("ex", True, -3)),
    (ArbRouteHooks, "on_score", (None, 50)),
    (ArbRouteHooks, "on_score", ("r", NAN)),
    (ArbRouteHooks, "on_score", ("r", -1)),
    (ArbRouteHooks, "on_spread", ("r", INF)),
    (ArbRouteHooks, "on_spread", ({}, 1)),
    (ArbUniverseHooks, "on_counts", (-1, 2)),
    (ArbUniverseHooks, "on_counts", (1.5, 2)),
    (ArbUniverseHooks, "on_counts", (None, None)),
    (ArbUniverseHooks, "on_states", ({"r": "maybe"},)),
    (ArbUniverseHooks, "on_states", (None,)),
    (CrossSyncHooks, "on_inventory", (None, 0.1, 10.0)),
    (CrossSyncHooks, "on_inventory", ("BTC", NAN, NAN)),
    (CrossSyncHooks, "on_inventory", ("BTC", 0.1, -10.0)),
    (CrossSyncHooks, "on_snapshot", (None, None)),
    (CrossSyncHooks, "on_snapshot", ({None: 0.1}, {"BTC": "x"})),
    (CrossSyncHooks, "on_capital", (NAN,)),
    (CrossSyncHooks, "on_capital", ("lots",)),
    (CrossSyncHooks, "on_rebalance", (None, False)),
    (CrossSyncHooks, "on_rebalance_failures", ("BTC", -1)),
    (CrossSyncHooks, "on_rebalance_failures", ("BTC", 2.5)),
    (CrossSyncHooks, "on_sync_result", (None, False)),
    (CrossSyncHooks, "on_sync_failure", ([],)),
    (RiskGuardHooks, "on_decision", ("exchange", "ex", "PANIC")),
    (RiskGuardHooks, "on_decision", ("exchange", None, 3)),
    (RiskGuardHooks, "on_decision", (None, "ex", 3)),
    (RiskGuardHooks, "on_daily_pnl", ("ex", NAN)),
    (RiskGuardHooks, "on_daily_pnl", ("ex", None)),
    (RiskGuardHooks, "on_loss_streak", ("r", -2)),
    (RiskGuardHooks, "on_loss_streak", ("r", True)),
    (RiskGuardHooks, "on_drawdown", ("BTC", NAN)),
    (RiskGuardHooks, "on_volatility", ("BTC", "high")),
    (RateLimiterHooks, "remove", (None,)),
    (RateLimiterHooks, "remove", ("ex", "")),
    (ExchangeHealthHooks, "remove", ([],)),
    (ArbRouteHooks, "remove", ("",)),
    (CrossSyncHooks, "remove_symbol", (None,)),
    (CrossSyncHooks, "remove_exchange", (3,)),
    (RiskGuardHooks, "remove_exchange", (None,)),
    (RiskGuardHooks, "remove_route", ({},)),
    (RiskGuardHooks, "remove_symbol", ("",)),
]


@pytest.mark.parametrize("cls, name, args", GARBAGE,
                         ids=[f"{c.__name__}.{n}-{i}" for i, (c, n, _) in enumerate(GARBAGE)])
def test_garbage_never_raises_and_is_counted(m: D75Metrics, cls: type, name: str, args: tuple[Any, ...]) -> None:
    assert getattr(cls(m), name)(*args) is None
    text = generate_latest(m.registry).decode()
    total = sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
        if line.startswith("d75_exporter_hook_errors_total{")
    )
    assert total >= 1
    assert 'hook="' + cls.component + "." in text
    # no junk series: no "None"/empty label values, no NaN samples
    assert '="None"' not in text and '=""' not in text
    assert not any(line.startswith("d75_") and line.endswith(" NaN") for line in text.splitlines())


def test_garbage_through_bound_objects(m: D75Metrics) -> None:
    b = RateLimiterHooks(m).bind("ex", "order")
    b.consume(NAN, 1), b.consume(1, 0), b.reject(-1), b.http_429("x")
    e = ExchangeHealthHooks(m).bind("ex")
    e.status("??"), e.rest_latency(NAN), e.orderbook_update(INF), e.request(True, -1)
    assert errors(m, "rate_limiter.consume") == 2
    assert errors(m, "exchange_health.status") == 1
    # binding garbage labels gives a no-op object, counted
    RateLimiterHooks(m).bind(None, "order").consume(1, 2)  # type: ignore[arg-type]
    ExchangeHealthHooks(m).bind([]).status(1)              # type: ignore[arg-type]
    assert errors(m, "rate_limiter.bind") == 1
    assert errors(m, "exchange_health.bind") == 1


# -- a registry whose metrics raise -----------------------------------------------------------------
class Boom(Exception):
    pass


class BrokenMetric:
    """Stands in for a prometheus-client metric whose every operation fails."""

    _name = "broken"

    def labels(self, *a: Any, **k: Any) -> BrokenMetric:
        raise Boom("labels")

    def set(self, *a: Any) -> None:
        raise Boom("set")

    inc = set
    remove_by_labels = set


class BrokenChildMetric(BrokenMetric):
    def labels(self, *a: Any, **k: Any) -> BrokenMetric:
        return BrokenMetric()


@pytest.mark.parametrize("broken", [BrokenMetric, BrokenChildMetric])
def test_a_metric_that_raises_never_reaches_the_caller(tmp_path: Path, broken: type) -> None:
    m = D75Metrics(CollectorRegistry(), data_dir=tmp_path, process_collector=False)
    for attr in list(vars(m)):
        if attr not in ("registry", "data_dir", "data_disk", "exporter_info") and not attr.startswith("_"):
            setattr(m, attr, broken())        # every metric, the hook error counter included
    for cls, name, args in ALL_CALLS:
        getattr(cls(m), name)(*args)
    RateLimiterHooks(m).bind("a", "b").consume(1, 2)
    ExchangeHealthHooks(m).bind("a").status(1)


def test_hook_errors_are_logged_once_per_interval_with_fields(m: D75Metrics, caplog: pytest.LogCaptureFixture) -> None:
    h = RateLimiterHooks(m)
    with caplog.at_level(logging.WARNING, logger="exporter.hooks"):
        for _ in range(100):
            h.on_consume("ex", "order", NAN, 1)
        h.on_reject("ex", "order", -1)
    records = [r for r in caplog.records if r.name == "exporter.hooks"]
    assert [r.fields["hook"] for r in records] == ["rate_limiter.on_consume", "rate_limiter.on_reject"]
    assert records[0].fields["error"] == "ValueError"
    assert errors(m, "rate_limiter.on_consume") == 100


def test_suppressed_count_is_reported_when_the_interval_passes(m: D75Metrics, caplog: pytest.LogCaptureFixture,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hooks_mod, "LOG_INTERVAL_S", 0.0)
    h = ArbRouteHooks(m)
    with caplog.at_level(logging.WARNING, logger="exporter.hooks"):
        h.on_score("r", NAN)
        h.on_score("r", NAN)
    assert len([r for r in caplog.records if r.name == "exporter.hooks"]) == 2


def test_label_cardinality_is_capped(m: D75Metrics, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hooks_mod, "MAX_LABEL_SETS", 5)
    h = ArbRouteHooks(m)
    for i in range(8):
        h.on_score(f"r{i}", 50)
    text = generate_latest(m.registry).decode()
    assert text.count("d75_route_score{") == 5
    assert errors(m, "arb_route.on_score") == 3


def test_concurrent_first_use_is_consistent(m: D75Metrics) -> None:
    h = RateLimiterHooks(m)
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for i in range(200):
            h.on_reject(f"ex{i % 10}", "order")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(m.registry.get_sample_value("d75_rate_limit_rejected_total",
                                            {"exchange": f"ex{i}", "category": "order"}) for i in range(10))
    assert total == 8 * 200
    assert errors(m, "rate_limiter.on_reject") == 0


def test_helpers() -> None:
    assert hooks_mod.label_value(BotStatus.DOWN) == "down"
    assert hooks_mod.label_value(OtherStatus.OK) == "OK"
    with pytest.raises(TypeError):
        hooks_mod.label_value(None)
    with pytest.raises(ValueError):
        hooks_mod.finite(math.inf)
    assert hooks_mod.ratio01(1.7) == 1.0


