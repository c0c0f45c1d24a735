"""The simulator in-process: entities, calm bands over many ticks, scenario switching rules."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from exporter.metrics import D75Metrics
from simulator.engine import BadTarget, Simulator, SimulatorConfig
from simulator.scenarios import SCENARIO_NAMES, SCENARIOS, UnknownScenario


def make(tmp_path: Path, **cfg: object) -> Simulator:
    m = D75Metrics(CollectorRegistry(), data_dir=tmp_path, process_collector=False)
    return Simulator(m, SimulatorConfig(**cfg))  # type: ignore[arg-type]


def samples(sim: Simulator, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for fam in sim.metrics.registry.collect():
        for s in fam.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_entities_follow_the_architecture_doc(tmp_path: Path) -> None:
    sim = make(tmp_path, exchanges=3, routes=5, symbols=2, seed=1)
    assert sim.exchanges == ("upbit", "binance", "bithumb")
    assert sim.symbols == ("BTC", "ETH")
    assert sim.routes[0] == "upbit-binance-BTC"
    assert len(sim.routes) == len(set(sim.routes)) == 5
    big = make(tmp_path, exchanges=25, routes=500, symbols=100, seed=1)
    assert len(big.exchanges) == 25 and len(set(big.exchanges)) == 25
    assert len(set(big.symbols)) == 100 and len(big.routes) == 500


@pytest.mark.parametrize("cfg", [dict(exchanges=1), dict(symbols=0), dict(tick=0),
                                 dict(exchanges=2, symbols=1, routes=3)])
def test_bad_config_is_refused(cfg: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SimulatorConfig(**cfg)  # type: ignore[arg-type]


@pytest.mark.parametrize("size, ticks", [(dict(exchanges=4, routes=12, symbols=4), 240),
                                         (dict(exchanges=20, routes=500, symbols=100), 40)])
def test_calm_stays_inside_the_calm_bands(tmp_path: Path, size: dict[str, int], ticks: int) -> None:
    sim = make(tmp_path, seed=7, **size)
    start = time.time()
    for i in range(ticks):                     # 240 ticks: two simulated minutes at 0.5 s
        sim.tick(now=start + i * 0.5)
        if i % 8 == 0:
            assert all(70 <= v <= 95 for v in samples(sim, "d75_route_score").values())
        if i % 20 == 0:
            assert all(0.60 <= v <= 1.0 for v in samples(sim, "d75_rate_limit_remaining_ratio").values())
            assert all(0.05 <= v <= 0.20 for v in samples(sim, "d75_exchange_rest_latency_seconds").values())
            assert set(samples(sim, "d75_exchange_health_status").values()) == {0.0}
            assert all(v < 0.20 for v in samples(sim, "d75_inventory_imbalance_ratio").values())
            exposure = samples(sim, "d75_exposure_usd")
            assert all(v < 15_000 for v in exposure.values()) and sum(exposure.values()) < 40_000
            pnl = samples(sim, "d75_daily_pnl_usd")
            assert all(v > -2_000 for v in pnl.values()) and sum(pnl.values()) > -5_000
            assert all(v <= 1 for v in samples(sim, "d75_route_loss_streak").values())
            assert all(5 <= v <= 100 for v in samples(sim, "d75_route_spread_bps").values())
            assert all(v < 0.05 for v in samples(sim, "d75_symbol_drawdown_ratio").values())
            assert all(v < 0.04 for v in samples(sim, "d75_symbol_volatility_ratio").values())
            assert set(samples(sim, "d75_riskguard_state").values()) == {0.0}
            assert set(samples(sim, "d75_rebalance_consecutive_failures").values()) == {0.0}
            univ = samples(sim, "d75_universe_routes")
            assert univ[(("state", "active"),)] > univ[(("state", "skip"),)]
    for name in ("d75_rate_limit_rejected_total", "d75_rate_limit_http_429_total",
                 "d75_inventory_sync_failures_total"):
        assert set(samples(sim, name).values()) == {0.0}, name
    ok = sum(v for k, v in samples(sim, "d75_exchange_requests_total").items() if ("outcome", "ok") in k)
    err = sum(v for k, v in samples(sim, "d75_exchange_requests_total").items() if ("outcome", "error") in k)
    assert err / (ok + err) < 0.01
    assert sim.metrics.registry.get_sample_value("d75_capital_usd") == 100_000
    assert sim.metrics.registry.get_sample_value("d75_exporter_hook_errors_total") is None


def test_set_scenario_applies_before_returning(tmp_path: Path) -> None:
    sim = make(tmp_path, seed=1)
    sim.tick()
    applied_at = sim.set_scenario("exchange-frozen")
    assert applied_at <= time.time()
    assert sim.metrics.registry.get_sample_value("d75_exchange_health_status", {"exchange": "upbit"}) == 3
    sim.set_scenario("exchange-down", target="bithumb")
    v = sim.metrics.registry.get_sample_value
    assert v("d75_exchange_health_status", {"exchange": "bithumb"}) == 2
    assert v("d75_exchange_health_status", {"exchange": "upbit"}) == 0   # previous scenario undone
    assert (sim.scenario, sim.target) == ("exchange-down", "bithumb")


def test_bad_switches_change_nothing(tmp_path: Path) -> None:
    sim = make(tmp_path, seed=1)
    sim.set_scenario("route-spread")
    with pytest.raises(UnknownScenario):
        sim.set_scenario("meteor-strike")
    with pytest.raises(BadTarget):
        sim.set_scenario("exchange-down", target="mtgox")
    with pytest.raises(BadTarget):
        sim.set_scenario("no-active-routes", target="upbit")
    assert (sim.scenario, sim.target) == ("route-spread", "upbit-binance-BTC")


def test_next_scenario_walks_the_list_and_wraps(tmp_path: Path) -> None:
    sim = make(tmp_path, seed=1)
    seen = [sim.scenario] + [sim.next_scenario() for _ in range(len(SCENARIOS))]
    assert seen[: len(SCENARIOS)] == list(SCENARIO_NAMES)
    assert seen[-1] == "calm"


def test_scenarios_are_documented_and_targets_known() -> None:
    assert len(set(SCENARIO_NAMES)) == len(SCENARIO_NAMES)
    for s in SCENARIOS:
        assert s.description and "\n" not in s.description
        assert s.target_kind in (None, "exchange", "route", "symbol")
    required = {"calm", "exchange-degraded", "exchange-down", "exchange-frozen", "rate-limit-pressure",
                "http-429-burst", "route-collapse", "no-active-routes", "inventory-imbalance",
                "rebalance-failures", "exchange-daily-loss", "global-daily-loss", "global-exposure",
                "symbol-drawdown", "exchange-latency", "orderbook-stale", "exchange-errors",
                "route-loss-streak", "route-spread", "symbol-exposure", "symbol-volatility",
                "sync-failures", "guard-block"}
    assert required <= set(SCENARIO_NAMES)


def test_background_ticking_starts_and_stops(tmp_path: Path) -> None:
    sim = make(tmp_path, seed=1, tick=0.05)
    sim.start()
    try:
        key = {"exchange": "upbit", "outcome": "ok"}
        first = sim.metrics.registry.get_sample_value("d75_exchange_requests_total", key)
        deadline = time.monotonic() + 10
        while sim.metrics.registry.get_sample_value("d75_exchange_requests_total", key) == first:
            assert time.monotonic() < deadline, "the simulator did not tick"
            time.sleep(0.02)
    finally:
        sim.stop()
    assert sim._thread is None  # noqa: SLF001
