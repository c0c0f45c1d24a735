"""A real Prometheus with the generated rules scrapes the simulator: scenarios raise the right alerts.

The catalog's thresholds and the simulator's scenarios were written separately (the simulator from
CONTRACT section 3); here they meet in a real Prometheus: calm fires nothing but Watchdog, each
incident fires its alert with the right severity and labels, and it clears when calm returns.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import pytest
import requests

from catalog import load_catalog
from local_stack.processes import ManagedProcess, free_port, start_prometheus, wait_http_ok
from tests.support import paths
from tests.support.stacks import write_overrides, write_prometheus_config
from tests.support.waiting import until

REPO = paths.REPO
DEADLINE = 45.0


class Pipeline:
    def __init__(self, sim_url: str, prom_url: str) -> None:
        self.sim_url, self.prom_url = sim_url, prom_url

    def scenario(self, name: str) -> None:
        r = requests.post(f"{self.sim_url}/scenario", json={"scenario": name}, timeout=10)
        assert r.status_code == 200, r.text

    def firing(self) -> set[tuple[str, str, str, str]]:
        """(alertname, severity, source, identifying label value) of every firing alert."""
        r = requests.get(f"{self.prom_url}/api/v1/query", params={"query": 'ALERTS{alertstate="firing"}'}, timeout=10)
        r.raise_for_status()
        out = set()
        for s in r.json()["data"]["result"]:
            m = s["metric"]
            ident = next((m[k] for k in ("exchange", "route", "symbol", "scope", "service", "instance") if k in m), "")
            out.add((m["alertname"], m.get("severity", ""), m.get("source", ""), ident))
        return out

    def wait_for(self, predicate, what: str) -> set:
        seen: list[set] = [set()]

        def check() -> bool:
            seen[0] = self.firing()
            return predicate(seen[0])

        until(check, DEADLINE, 0.25, what, explain=lambda: f"firing: {sorted(seen[0])}")
        return seen[0]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Iterator[Pipeline]:
    tmp = tmp_path_factory.mktemp("rules-prom")
    sim_port, prom_port = free_port(), free_port()
    sim = ManagedProcess("simulator", [sys.executable, "-m", "d76_cli.main", "simulate", "--scenario", "calm",
                                       "--listen", f"127.0.0.1:{sim_port}", "--tick", "0.1"],
                         tmp / "sim.log").start()
    prom = None
    try:
        wait_http_ok(f"http://127.0.0.1:{sim_port}/metrics", 30, sim)
        # shortened `for`, through the catalog's override file, so the `for` path is covered quickly;
        # this Prometheus scrapes only the simulator (no receiver, no Alertmanager answers): the
        # pipeline's own alerts would say exactly that, so they are off here (test_pipeline_road.py)
        pipeline_off = {a.name: {"enabled": False} for a in load_catalog().alerts if a.source == "pipeline"}
        catalog = load_catalog(write_overrides(tmp, {"alerts": {"ExchangeDownSustained": {"for": "3s"},
                                                                "ServiceDown": {"for": "2s"}, **pipeline_off}},
                                               "ov.yml"))
        cfg = write_prometheus_config(tmp, catalog, f"127.0.0.1:{sim_port}")
        prom = start_prometheus(cfg, prom_port, tmp / "data", tmp / "prom.log")
        yield Pipeline(f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{prom_port}")
    finally:
        if prom:
            prom.stop()
        sim.stop()


WATCHDOG = ("Watchdog", "none", "system", "")


def test_calm_fires_nothing_but_watchdog(pipeline):
    pipeline.wait_for(lambda s: WATCHDOG in s, "Watchdog")
    # stay a few evaluations: nothing else may appear
    for _ in range(12):
        assert pipeline.firing() == {WATCHDOG}
        time.sleep(0.25)


@pytest.mark.parametrize("scenario,expected", [
    ("exchange-frozen", {("ExchangeFrozen", "P0", "exchange_health", "upbit")}),
    ("exchange-down", {("ExchangeDown", "P1", "exchange_health", "upbit"),
                       ("ExchangeDownSustained", "P0", "exchange_health", "upbit")}),
    ("global-daily-loss", {("GlobalDailyLoss", "P0", "risk_guard", "bot"),
                           ("RiskGuardGlobalBlock", "P0", "risk_guard", "global")}),
    ("route-collapse", {("RouteScoreLow", "P2", "arb_route", "upbit-binance-BTC")}),
    ("inventory-imbalance", {("InventoryImbalanceHigh", "P2", "cross_sync", "BTC")}),
    ("http-429-burst", {("RateLimitHttp429", "P1", "rate_limiter", "upbit")}),
    # a guard's early warnings page at their tier's severity (the exchange tier's carry the exchange)
    ("guard-degrade", {("RiskGuardExchangeDegrade", "P2", "risk_guard", "upbit")}),
    ("guard-cooldown", {("RiskGuardRouteCooldown", "P2", "risk_guard", "upbit-binance-BTC")}),
    ("service-down", {("ServiceDown", "P1", "system", "database")}),
])
def test_scenario_raises_its_alert_and_clears(pipeline, scenario, expected):
    def normalise(seen):  # global alerts carry only instance: compare on "bot"
        return {(a, s, src, "bot" if ident.startswith("127.0.0.1:") else ident) for a, s, src, ident in seen}

    pipeline.scenario(scenario)
    seen = normalise(pipeline.wait_for(lambda s: expected <= normalise(s), f"{scenario} -> {sorted(expected)}"))
    assert all(sev in ("P0", "P1", "P2", "P3", "none") for _, sev, _, _ in seen)
    pipeline.scenario("calm")
    if scenario != "http-429-burst":  # `increase(...[1m])` keeps a 429 alert a minute: promtool covers it
        pipeline.wait_for(lambda s: not (expected & normalise(s)), f"{scenario}: alerts clear after calm")
