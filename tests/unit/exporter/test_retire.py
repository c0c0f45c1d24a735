"""Retiring series: `remove`-style hooks drop every child of a label value, and only those; a value
reported again (directly or through a bound object) starts a fresh, exported series."""
from __future__ import annotations

from enum import Enum
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter import ArbRouteHooks, CrossSyncHooks, D75Metrics, ExchangeHealthHooks, RateLimiterHooks, RiskGuardHooks


@pytest.fixture
def m(tmp_path: Path) -> D75Metrics:
    return D75Metrics(CollectorRegistry(), data_dir=tmp_path, process_collector=False)


def series(m: D75Metrics, **labels: str) -> list[str]:
    """Exposed d75_ sample lines carrying every given label=value."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return [line for line in generate_latest(m.registry).decode().splitlines()
            if line.startswith("d75_") and all(w in line for w in want)]


def errors(m: D75Metrics, hook: str) -> float:
    return m.registry.get_sample_value("d75_exporter_hook_errors_total", {"hook": hook}) or 0.0


def test_exchange_health_remove_drops_every_series_of_that_exchange_only(m):
    h = ExchangeHealthHooks(m)
    for ex in ("upbit", "binance"):
        h.on_status(ex, "DOWN"), h.on_rest_latency(ex, 0.2), h.on_orderbook_update(ex, 1.0)
        h.on_request(ex, True), h.on_request(ex, False)
    assert len(series(m, exchange="upbit")) == 7  # status, latency, orderbook, ok+error (+ _created)
    h.remove("upbit")
    assert series(m, exchange="upbit") == []
    assert len(series(m, exchange="binance")) == 7
    assert m.registry.get_sample_value("d75_exchange_health_status", {"exchange": "binance"}) == 2
    assert errors(m, "exchange_health.remove") == 0


def test_reported_again_after_remove_is_exported_again_also_through_bound_objects(m):
    h = ExchangeHealthHooks(m)
    bound = h.bind("upbit")
    bound.status("FROZEN"), bound.request(False), bound.orderbook_update(5.0)
    h.remove("upbit")
    assert series(m, exchange="upbit") == []
    bound.status(1)                      # the bound object forgot its removed children
    bound.request(True)
    h.on_rest_latency("upbit", 0.3)
    g = m.registry.get_sample_value
    assert g("d75_exchange_health_status", {"exchange": "upbit"}) == 1
    assert g("d75_exchange_requests_total", {"exchange": "upbit", "outcome": "ok"}) == 1
    assert g("d75_exchange_requests_total", {"exchange": "upbit", "outcome": "error"}) == 0  # fresh, at 0
    assert g("d75_exchange_rest_latency_seconds", {"exchange": "upbit"}) == 0.3
    assert g("d75_exchange_orderbook_last_update_timestamp_seconds", {"exchange": "upbit"}) is None


def test_rate_limiter_remove_every_category_or_one(m):
    r = RateLimiterHooks(m)
    bucket = r.bind("upbit", "order")
    for cat in ("order", "market_data"):
        r.on_consume("upbit", cat, 5, 10), r.on_reject("upbit", cat), r.on_http_429("upbit", cat)
    r.on_consume("binance", "order", 5, 10)
    r.remove("upbit", "order")
    assert series(m, exchange="upbit", category="order") == []
    assert series(m, exchange="upbit", category="market_data")
    bucket.reject()                      # bound to the removed bucket: a fresh counter
    assert m.registry.get_sample_value("d75_rate_limit_rejected_total",
                                       {"exchange": "upbit", "category": "order"}) == 1
    r.remove("upbit")
    assert series(m, exchange="upbit") == []
    assert series(m, exchange="binance")


def test_routes_symbols_and_the_guard(m):
    routes, sync, guard = ArbRouteHooks(m), CrossSyncHooks(m), RiskGuardHooks(m)
    for r in ("upbit-binance-BTC", "okx-kraken-ETH"):
        routes.on_score(r, 70), routes.on_spread(r, 20), guard.on_loss_streak(r, 1)
        guard.on_decision("route", r, "BLOCK")
    for s in ("BTC", "ETH"):
        sync.on_inventory(s, 0.1, 100), sync.on_rebalance(s, False), sync.on_rebalance(s, False)
        guard.on_drawdown(s, 0.1), guard.on_volatility(s, 0.1), guard.on_decision("symbol", s, "COOLDOWN")
    sync.on_sync_result("upbit", False), guard.on_daily_pnl("upbit", -10)
    guard.on_decision("exchange", "upbit", "BLOCK")
    guard.on_decision("route", "upbit", "ALLOW")   # a scope named like the exchange in another tier

    routes.remove("upbit-binance-BTC"), guard.remove_route("upbit-binance-BTC")
    assert series(m, route="upbit-binance-BTC") == [] and series(m, scope="upbit-binance-BTC") == []
    assert len(series(m, route="okx-kraken-ETH")) == 3 and series(m, scope="okx-kraken-ETH")

    sync.remove_symbol("BTC"), guard.remove_symbol("BTC")
    assert series(m, symbol="BTC") == [] and series(m, scope="BTC") == []
    assert len(series(m, symbol="ETH")) == 5
    sync.on_rebalance("BTC", False)      # the consecutive count starts again from 1
    assert m.registry.get_sample_value("d75_rebalance_consecutive_failures", {"symbol": "BTC"}) == 1

    sync.remove_exchange("upbit"), guard.remove_exchange("upbit")
    assert series(m, exchange="upbit") == [] and series(m, tier="exchange") == []
    assert m.registry.get_sample_value("d75_riskguard_state", {"tier": "route", "scope": "upbit"}) == 0


def test_enum_label_values_are_retired_by_their_value(m):
    class Ex(Enum):
        UPBIT = "upbit"

    h = ExchangeHealthHooks(m)
    h.on_status(Ex.UPBIT, 0)
    h.remove("upbit")                    # cached under the enum member, exported as "upbit"
    assert series(m, exchange="upbit") == []
    h.on_status(Ex.UPBIT, 2)
    assert m.registry.get_sample_value("d75_exchange_health_status", {"exchange": "upbit"}) == 2


def test_removing_an_unknown_value_is_harmless_and_garbage_is_counted(m):
    h = ExchangeHealthHooks(m)
    h.on_status("binance", 0)
    assert h.remove("never-seen") is None
    assert h.remove(None) is None        # type: ignore[arg-type]
    assert errors(m, "exchange_health.remove") == 1
    assert series(m, exchange="binance")


def test_a_value_retired_through_another_instance_is_forgotten_by_all(m):
    """The bot may hold several hook objects (one per module); each caches its children."""
    a, b = ExchangeHealthHooks(m), ExchangeHealthHooks(m)
    bound = a.bind("upbit")
    a.on_status("upbit", 3), a.on_rest_latency("upbit", 0.4), bound.request(True)
    b.remove("upbit")
    assert series(m, exchange="upbit") == []
    a.on_status("upbit", 1), bound.request(False)
    g = m.registry.get_sample_value
    assert g("d75_exchange_health_status", {"exchange": "upbit"}) == 1
    assert g("d75_exchange_requests_total", {"exchange": "upbit", "outcome": "error"}) == 1
    s1, s2 = CrossSyncHooks(m), CrossSyncHooks(m)
    s1.on_rebalance("BTC", False), s1.on_rebalance("BTC", False)
    s2.remove_symbol("BTC")
    s1.on_rebalance("BTC", False)
    assert g("d75_rebalance_consecutive_failures", {"symbol": "BTC"}) == 1
