"""`d76 simulate` as a real subprocess, observed the way Prometheus sees it: scraping /metrics.

For every scenario the metrics are evaluated against CONTRACT section 3 (re-implemented here
independently of the catalog): calm must cross nothing, each scenario exactly its expected set.
"""
from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from local_stack.processes import free_port
from simulator.scenarios import SCENARIO_NAMES
from tests.support import paths

CAPITAL = 100_000.0
TICK = 0.1
EXCHANGES = 7          # enough for global-daily-loss to keep every exchange above -10,000
SYMBOLS = 4


# -- running the CLI --------------------------------------------------------------------------------
@dataclass
class Sim:
    proc: subprocess.Popen[str]
    url: str
    first_line: str

    def scenario(self, name: str, target: str | None = None) -> dict:
        body = {"scenario": name} if target is None else {"scenario": name, "target": target}
        r = requests.post(f"{self.url}/scenario", json=body, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def state(self) -> dict:
        return requests.get(f"{self.url}/scenario", timeout=10).json()

    def wait_ticks(self, n: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.state()["ticks"] < n:
            assert time.monotonic() < deadline, f"simulator did not publish {n} ticks in {timeout}s"
            time.sleep(TICK / 2)


def start_sim(*args: str, wait_line: bool = True) -> Sim:
    cmd = [sys.executable, "-m", "d76_cli.main", "simulate", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=paths.REPO)
    if not wait_line:
        return Sim(proc, "", "")
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(30)
    if not line or not line[0]:
        proc.kill()
        raise AssertionError(f"no start-up line; stderr: {proc.stderr.read()}")  # type: ignore[union-attr]
    first = line[0].strip()
    url = first.split("metrics at ", 1)[1].split("/metrics", 1)[0]
    return Sim(proc, url, first)


def stop(sim: Sim, sig: int = signal.SIGTERM) -> int:
    sim.proc.send_signal(sig)
    try:
        return sim.proc.wait(15)
    finally:
        if sim.proc.poll() is None:
            sim.proc.kill()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    s = start_sim("--listen", "127.0.0.1:0", "--tick", str(TICK), "--seed", "11",
                  "--exchanges", str(EXCHANGES), "--symbols", str(SYMBOLS), "--routes", "16",
                  "--data-dir", str(tmp_path_factory.mktemp("data")))
    yield s
    assert stop(s) == 0


# -- scraping and evaluating ------------------------------------------------------------------------
Scrape = dict[str, dict[tuple[tuple[str, str], ...], float]]


def scrape(sim: Sim) -> tuple[float, Scrape]:
    r = requests.get(f"{sim.url}/metrics", timeout=10)
    t = time.time()
    assert r.status_code == 200
    out: Scrape = defaultdict(dict)
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            out[s.name][tuple(sorted(s.labels.items()))] = s.value
    return t, out


def lab(key: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return dict(key)


def violations(before: tuple[float, Scrape], after: tuple[float, Scrape]) -> set[str]:
    """CONTRACT section 3 conditions that hold in ``after`` (counters and drops measured since ``before``)."""
    _, a = before
    t, b = after
    out: set[str] = set()

    def delta(name: str, key: tuple) -> float:
        return b[name].get(key, 0.0) - a[name].get(key, 0.0)

    for v in b["d75_rate_limit_remaining_ratio"].values():
        if v < 0.20:
            out.add("rate_limit_remaining")
    for name, tag in (("d75_rate_limit_http_429_total", "http_429"), ("d75_rate_limit_rejected_total", "rejections"),
                      ("d75_inventory_sync_failures_total", "sync_failures")):
        if any(delta(name, k) > 0 for k in b[name]):
            out.add(tag)
    for v in b["d75_exchange_health_status"].values():
        if v in (1, 2, 3):
            out.add({1: "degraded", 2: "down", 3: "frozen"}[int(v)])
    for v in b["d75_exchange_rest_latency_seconds"].values():
        if v > 0.5:
            out.add("latency_high")
        if v > 2:
            out.add("latency_critical")
    for v in b["d75_exchange_orderbook_last_update_timestamp_seconds"].values():
        if t - v > 5:
            out.add("orderbook_stale")
        if t - v > 10:
            out.add("orderbook_critical")
    per_ex: dict[str, dict[str, float]] = defaultdict(dict)
    for k in b["d75_exchange_requests_total"]:
        per_ex[lab(k)["exchange"]][lab(k)["outcome"]] = delta("d75_exchange_requests_total", k)
    for counts in per_ex.values():
        total = counts.get("ok", 0) + counts.get("error", 0)
        if total and counts.get("error", 0) / total > 0.05:
            out.add("errors")
        if total and counts.get("error", 0) / total > 0.10:
            out.add("errors_critical")
    for k, v in b["d75_route_score"].items():
        if v < 50:
            out.add("route_score_low")
        if k in a["d75_route_score"] and v < 0.7 * a["d75_route_score"][k]:
            out.add("route_score_drop")
    if b["d75_universe_routes"][(("state", "active"),)] == 0:
        out.add("no_active_routes")
    if any(v > 0.5 for v in b["d75_inventory_imbalance_ratio"].values()):
        out.add("imbalance")
    exposure = b["d75_exposure_usd"]
    capital = b["d75_capital_usd"][()]
    assert capital == CAPITAL
    if sum(exposure.values()) > 0.8 * capital:
        out.add("exposure_vs_capital")
    if sum(exposure.values()) > 100_000:
        out.add("global_exposure")
    if any(v > 0.5 * capital for v in exposure.values()):
        out.add("symbol_exposure")
    if any(v >= 3 for v in b["d75_rebalance_consecutive_failures"].values()):
        out.add("rebalance_failures")
    pnl = b["d75_daily_pnl_usd"]
    if any(v < -10_000 for v in pnl.values()):
        out.add("exchange_daily_loss")
    if sum(pnl.values()) < -50_000:
        out.add("global_daily_loss")
    if any(v >= 3 for v in b["d75_route_loss_streak"].values()):
        out.add("loss_streak")
    if any(v > 500 for v in b["d75_route_spread_bps"].values()):
        out.add("spread")
    if any(v > 0.2 for v in b["d75_symbol_drawdown_ratio"].values()):
        out.add("drawdown")
    if any(v > 0.1 for v in b["d75_symbol_volatility_ratio"].values()):
        out.add("volatility")
    for k, v in b["d75_riskguard_state"].items():
        state = {1: "guard_degrade", 2: "guard_cooldown", 3: "guard_block"}.get(int(v))
        if state:
            out.add(f"{state}:{lab(k)['tier']}")
    up = b["d75_service_up"]
    assert up, "the simulator publishes its services"
    for k, v in up.items():
        if v == 0:
            out.add("service_down")
        elif b["d75_service_check_duration_seconds"][k] > 2:
            out.add("service_slow")
    return out


EXPECTED: dict[str, set[str]] = {
    "calm": set(),
    "exchange-degraded": {"degraded"},
    "exchange-down": {"down"},
    "exchange-frozen": {"frozen"},
    "exchange-slow": {"latency_high"},
    "exchange-latency": {"latency_high", "latency_critical"},
    "orderbook-lagging": {"orderbook_stale"},
    "orderbook-stale": {"orderbook_stale", "orderbook_critical"},
    "exchange-errors-elevated": {"errors"},
    "exchange-errors": {"errors", "errors_critical"},
    "rate-limit-pressure": {"rate_limit_remaining"},
    "rate-limit-rejections": {"rate_limit_remaining", "rejections"},
    "http-429-burst": {"http_429"},
    "route-collapse": {"route_score_low", "route_score_drop"},
    "no-active-routes": {"no_active_routes"},
    "inventory-imbalance": {"imbalance"},
    "rebalance-failures": {"rebalance_failures"},
    "sync-failures": {"sync_failures"},
    "exchange-daily-loss": {"exchange_daily_loss"},
    "global-daily-loss": {"global_daily_loss", "guard_block:global"},
    "global-exposure": {"global_exposure", "exposure_vs_capital", "guard_block:global"},
    "symbol-exposure": {"symbol_exposure"},
    "symbol-drawdown": {"drawdown"},
    "symbol-volatility": {"volatility"},
    "route-loss-streak": {"loss_streak"},
    "route-spread": {"spread"},
    "guard-block": {"guard_block:exchange"},
    "guard-degrade": {"guard_degrade:exchange"},
    "guard-cooldown": {"guard_cooldown:route"},
    "service-down": {"service_down"},
    "service-slow": {"service_slow"},
}


def test_every_scenario_has_an_expectation() -> None:
    assert set(EXPECTED) == set(SCENARIO_NAMES)


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_scenario_crosses_exactly_its_thresholds(sim: Sim, name: str) -> None:
    sim.scenario("calm")
    before = scrape(sim)
    assert violations(before, before) == set(), "calm baseline is not calm"
    applied = sim.scenario(name)
    assert applied["scenario"] == name
    sim.wait_ticks(8)
    after = scrape(sim)
    assert violations(before, after) == EXPECTED[name]
    # sustained: still there a few ticks later (counters keep moving)
    sim.wait_ticks(14)
    later = scrape(sim)
    assert violations(after, later) - {"route_score_drop"} == EXPECTED[name] - {"route_score_drop"}


def test_scenario_targets_the_first_entity_or_the_given_one(sim: Sim) -> None:
    sim.scenario("calm")
    assert sim.scenario("exchange-down")["target"] == "upbit"
    _, m = scrape(sim)
    assert m["d75_exchange_health_status"][(("exchange", "upbit"),)] == 2
    assert sim.scenario("exchange-down", target="okx")["target"] == "okx"
    _, m = scrape(sim)
    assert m["d75_exchange_health_status"][(("exchange", "okx"),)] == 2
    assert m["d75_exchange_health_status"][(("exchange", "upbit"),)] == 0
    assert sim.scenario("route-spread")["target"] == "upbit-binance-BTC"
    assert sim.scenario("symbol-drawdown")["target"] == "BTC"
    sim.scenario("calm")


def test_switch_is_visible_to_the_first_scrape_after_the_response(sim: Sim) -> None:
    sim.scenario("calm")
    t0 = time.time()
    applied = sim.scenario("exchange-frozen")
    _, m = scrape(sim)          # no waiting: applied before the response
    assert m["d75_exchange_health_status"][(("exchange", "upbit"),)] == 3
    assert t0 - 1 <= applied["applied_at"] <= time.time()
    sim.scenario("calm")
    _, m = scrape(sim)
    assert m["d75_exchange_health_status"][(("exchange", "upbit"),)] == 0


def test_control_endpoint_contract(sim: Sim) -> None:
    st = sim.state()
    assert [a["name"] for a in st["available"]] == list(SCENARIO_NAMES)
    assert all(a["description"] for a in st["available"])
    assert {"scenario", "target", "applied_at", "ticks"} <= set(st)
    url = f"{sim.url}/scenario"
    for body, needle in ((b"{not json", "JSON"), (b"[]", "scenario"), (b'{"scenario": 5}', "scenario"),
                         (b'{"scenario": "meteor"}', "unknown scenario"),
                         (b'{"scenario": "exchange-down", "target": "mtgox"}', "unknown exchange"),
                         (b'{"scenario": "exchange-down", "target": 3}', "target")):
        r = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 400, body
        assert r.headers["Content-Type"] == "application/json"
        assert needle in r.json()["error"], (body, r.json())
    assert sim.state()["scenario"] == st["scenario"]       # nothing changed
    assert requests.put(url, timeout=10).status_code == 405
    assert requests.get(f"{sim.url}/nope", timeout=10).status_code == 404


def test_metrics_over_http_gzip_and_system_metrics(sim: Sim) -> None:
    r = requests.get(f"{sim.url}/metrics", headers={"Accept-Encoding": "gzip"}, timeout=10, stream=True)
    assert r.headers["Content-Encoding"] == "gzip"
    text = gzip.decompress(r.raw.read()).decode()
    assert "process_resident_memory_bytes" in text
    assert "d75_data_disk_free_ratio{" in text
    assert "_created" not in text          # the CLI turns created series off
    assert "d75_exporter_hook_errors_total{" not in text, "the simulator fed a hook garbage"


def test_sigusr1_steps_to_the_next_scenario(sim: Sim) -> None:
    sim.scenario("calm")
    os.kill(sim.proc.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 15
    while sim.state()["scenario"] != SCENARIO_NAMES[1]:
        assert time.monotonic() < deadline, "SIGUSR1 did not switch the scenario"
        time.sleep(0.05)
    os.kill(sim.proc.pid, signal.SIGUSR1)
    while sim.state()["scenario"] != SCENARIO_NAMES[2]:
        assert time.monotonic() < deadline, "second SIGUSR1 did not switch the scenario"
        time.sleep(0.05)
    assert sim.proc.poll() is None
    sim.scenario("calm")


# -- process lifecycle -------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_clean_exit_on_signal(sig: int) -> None:
    s = start_sim("--listen", "127.0.0.1:0", "--scenario", "http-429-burst")
    assert "scenario http-429-burst" in s.first_line and "/scenario" in s.first_line
    assert requests.get(f"{s.url}/metrics", timeout=10).status_code == 200
    assert stop(s, sig) == 0


def test_fixed_port_from_listen() -> None:
    port = free_port()
    s = start_sim("--listen", f"127.0.0.1:{port}")
    try:
        assert s.url == f"http://127.0.0.1:{port}"
        assert requests.get(f"{s.url}/scenario", timeout=10).json()["scenario"] == "calm"
    finally:
        assert stop(s) == 0


@pytest.mark.parametrize("args, needle", [
    (["--scenario", "meteor-strike"], "meteor-strike"),
    (["--listen", "nowhere"], "HOST:PORT"),
    (["--scenario", "exchange-down", "--target", "mtgox"], "mtgox"),
    (["--exchanges", "2", "--symbols", "1", "--routes", "5"], "at most 2 routes"),
])
def test_bad_arguments_exit_2_with_a_clear_message(args: list[str], needle: str) -> None:
    s = start_sim("--listen", "127.0.0.1:0", *args, wait_line=False)
    out, err = s.proc.communicate(timeout=30)
    assert s.proc.returncode == 2, (out, err)
    assert needle in err
    assert out == ""


def test_port_in_use_is_a_clear_error(sim: Sim) -> None:
    port = sim.url.rsplit(":", 1)[1]
    s = start_sim("--listen", f"127.0.0.1:{port}", wait_line=False)
    out, err = s.proc.communicate(timeout=30)
    assert s.proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err
