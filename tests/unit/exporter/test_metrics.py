"""Every CONTRACT section 1 metric, exact name/type/labels, on a fresh registry."""
from __future__ import annotations

import os
import typing
from pathlib import Path

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import exporter
from exporter import (
    ArbRouteHooks,
    ArbUniverseHooks,
    CrossSyncHooks,
    D75Metrics,
    ExchangeHealthHooks,
    RateLimiterHooks,
    RiskGuardHooks,
    ServiceHooks,
)
from exporter.metrics import CONTRACT_METRICS

# CONTRACT section 1, typed out again here on purpose: the test must not trust the module's table.
CONTRACT = {
    "d75_rate_limit_remaining_ratio": ("gauge", {"exchange", "category"}),
    "d75_rate_limit_rejected_total": ("counter", {"exchange", "category"}),
    "d75_rate_limit_http_429_total": ("counter", {"exchange", "category"}),
    "d75_exchange_health_status": ("gauge", {"exchange"}),
    "d75_exchange_rest_latency_seconds": ("gauge", {"exchange"}),
    "d75_exchange_orderbook_last_update_timestamp_seconds": ("gauge", {"exchange"}),
    "d75_exchange_requests_total": ("counter", {"exchange", "outcome"}),
    "d75_route_score": ("gauge", {"route"}),
    "d75_universe_routes": ("gauge", {"state"}),
    "d75_inventory_imbalance_ratio": ("gauge", {"symbol"}),
    "d75_exposure_usd": ("gauge", {"symbol"}),
    "d75_capital_usd": ("gauge", set()),
    "d75_rebalance_consecutive_failures": ("gauge", {"symbol"}),
    "d75_inventory_sync_failures_total": ("counter", {"exchange"}),
    "d75_daily_pnl_usd": ("gauge", {"exchange"}),
    "d75_route_loss_streak": ("gauge", {"route"}),
    "d75_route_spread_bps": ("gauge", {"route"}),
    "d75_symbol_drawdown_ratio": ("gauge", {"symbol"}),
    "d75_symbol_volatility_ratio": ("gauge", {"symbol"}),
    "d75_riskguard_state": ("gauge", {"tier", "scope"}),
    # issue 21: a bucket's capacity (tokens left of it), the bot's own services (the seeds' SystemMonitor)
    "d75_rate_limit_capacity": ("gauge", {"exchange", "category"}),
    "d75_service_up": ("gauge", {"service"}),
    "d75_service_check_duration_seconds": ("gauge", {"service"}),
}


def _feed_every_hook(m: D75Metrics) -> None:
    RateLimiterHooks(m).on_consume("binance", "order", 180, 1200)
    RateLimiterHooks(m).on_reject("binance", "order")
    RateLimiterHooks(m).on_http_429("binance", "order")
    h = ExchangeHealthHooks(m)
    h.on_status("upbit", "DOWN")
    h.on_rest_latency("upbit", 0.25)
    h.on_orderbook_update("upbit", ts=1_700_000_000.0)
    h.on_request("upbit", ok=False)
    ArbRouteHooks(m).on_score("upbit-binance-BTC", 42.0)
    ArbRouteHooks(m).on_spread("upbit-binance-BTC", 35.0)
    ArbUniverseHooks(m).on_counts(active=7, skip=2)
    s = CrossSyncHooks(m)
    s.on_inventory("BTC", 0.3, 12_000.0)
    s.on_capital(100_000)
    s.on_rebalance("BTC", ok=False)
    s.on_sync_failure("upbit")
    g = RiskGuardHooks(m)
    g.on_decision("exchange", "upbit", "BLOCK")
    g.on_daily_pnl("upbit", -1234.5)
    g.on_loss_streak("upbit-binance-BTC", 2)
    g.on_drawdown("BTC", 0.07)
    g.on_volatility("BTC", 0.03)
    ServiceHooks(m).report("database", up=True, latency=0.004)


def test_module_table_matches_contract() -> None:
    assert {k: (t, set(ls)) for k, (t, ls) in CONTRACT_METRICS.items()} == CONTRACT


def test_every_contract_metric_has_exact_name_type_and_labels(tmp_path: Path) -> None:
    reg = CollectorRegistry()
    m = D75Metrics(reg, data_dir=tmp_path)
    _feed_every_hook(m)
    text = generate_latest(reg).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name, (mtype, labels) in CONTRACT.items():
        family_name = name[: -len("_total")] if mtype == "counter" else name
        fam = families.get(family_name)
        assert fam is not None, f"{name} missing from the exposition"
        assert fam.type == mtype, name
        samples = [s for s in fam.samples if s.name == name]
        assert samples, f"no {name} sample"
        for s in samples:
            assert set(s.labels) == labels, (name, s.labels)
    # and the text format carries exactly the contract names with their TYPE lines
    for name, (mtype, _) in CONTRACT.items():
        assert f"# TYPE {name} {mtype}\n" in text


def test_every_declared_attribute_is_built_with_its_declared_type(tmp_path: Path) -> None:
    """D75Metrics declares its contract attributes as annotations and builds them from a table."""
    m = D75Metrics(CollectorRegistry(), data_dir=tmp_path, process_collector=False)
    declared = {a: t for a, t in typing.get_type_hints(D75Metrics).items() if t in (Gauge, Counter)}
    assert len(declared) == len(CONTRACT)
    for attr, kind in declared.items():
        assert type(getattr(m, attr)) is kind, attr
    assert {getattr(m, a)._name for a in declared} == {n.removesuffix("_total") for n in CONTRACT}  # noqa: SLF001


def test_values_land_where_the_hooks_put_them(tmp_path: Path) -> None:
    reg = CollectorRegistry()
    m = D75Metrics(reg, data_dir=tmp_path)
    _feed_every_hook(m)
    v = reg.get_sample_value
    assert v("d75_rate_limit_remaining_ratio", {"exchange": "binance", "category": "order"}) == 0.15
    assert v("d75_rate_limit_rejected_total", {"exchange": "binance", "category": "order"}) == 1
    assert v("d75_rate_limit_http_429_total", {"exchange": "binance", "category": "order"}) == 1
    assert v("d75_exchange_health_status", {"exchange": "upbit"}) == 2
    assert v("d75_exchange_rest_latency_seconds", {"exchange": "upbit"}) == 0.25
    assert v("d75_exchange_orderbook_last_update_timestamp_seconds", {"exchange": "upbit"}) == 1_700_000_000.0
    assert v("d75_exchange_requests_total", {"exchange": "upbit", "outcome": "error"}) == 1
    assert v("d75_exchange_requests_total", {"exchange": "upbit", "outcome": "ok"}) == 0
    assert v("d75_route_score", {"route": "upbit-binance-BTC"}) == 42.0
    assert v("d75_route_spread_bps", {"route": "upbit-binance-BTC"}) == 35.0
    assert v("d75_universe_routes", {"state": "active"}) == 7
    assert v("d75_universe_routes", {"state": "skip"}) == 2
    assert v("d75_inventory_imbalance_ratio", {"symbol": "BTC"}) == 0.3
    assert v("d75_exposure_usd", {"symbol": "BTC"}) == 12_000.0
    assert v("d75_capital_usd") == 100_000
    assert v("d75_rebalance_consecutive_failures", {"symbol": "BTC"}) == 1
    assert v("d75_inventory_sync_failures_total", {"exchange": "upbit"}) == 1
    assert v("d75_daily_pnl_usd", {"exchange": "upbit"}) == -1234.5
    assert v("d75_route_loss_streak", {"route": "upbit-binance-BTC"}) == 2
    assert v("d75_symbol_drawdown_ratio", {"symbol": "BTC"}) == 0.07
    assert v("d75_symbol_volatility_ratio", {"symbol": "BTC"}) == 0.03
    assert v("d75_riskguard_state", {"tier": "exchange", "scope": "upbit"}) == 3


def test_system_metrics_process_and_data_disk(tmp_path: Path) -> None:
    reg = CollectorRegistry()
    D75Metrics(reg, data_dir=tmp_path)
    ratio = reg.get_sample_value("d75_data_disk_free_ratio", {"path": str(tmp_path.resolve())})
    st = os.statvfs(tmp_path)
    assert ratio is not None and 0.0 < ratio <= 1.0
    assert ratio == pytest.approx(st.f_bavail / st.f_blocks, abs=0.01)
    assert reg.get_sample_value("process_resident_memory_bytes") > 0
    assert reg.get_sample_value("process_open_fds") > 0
    assert reg.get_sample_value("d75_exporter_info", {"version": exporter.metrics.EXPORTER_VERSION}) == 1


def test_unreadable_data_dir_gives_no_sample_and_scrape_still_works(tmp_path: Path) -> None:
    reg = CollectorRegistry()
    D75Metrics(reg, data_dir=tmp_path / "does-not-exist")
    text = generate_latest(reg).decode()
    assert "# TYPE d75_data_disk_free_ratio gauge" in text
    assert "d75_data_disk_free_ratio{" not in text
    assert "process_resident_memory_bytes" in text


def test_process_collector_can_be_left_out(tmp_path: Path) -> None:
    reg = CollectorRegistry()
    D75Metrics(reg, data_dir=tmp_path, process_collector=False)
    assert reg.get_sample_value("process_resident_memory_bytes") is None


def test_nothing_is_registered_globally_and_instances_do_not_collide(tmp_path: Path) -> None:
    names_before = set(prometheus_client.REGISTRY._names_to_collectors)  # noqa: SLF001
    a = D75Metrics(data_dir=tmp_path)
    b = D75Metrics(data_dir=tmp_path)
    assert a.registry is not b.registry
    assert set(prometheus_client.REGISTRY._names_to_collectors) == names_before  # noqa: SLF001
    assert not any(n.startswith("d75_") for n in prometheus_client.REGISTRY._names_to_collectors)  # noqa: SLF001
    RateLimiterHooks(a).on_reject("x", "order")
    assert b.registry.get_sample_value("d75_rate_limit_rejected_total", {"exchange": "x", "category": "order"}) is None


def test_public_surface() -> None:
    for name in exporter.__all__:
        assert hasattr(exporter, name), name
