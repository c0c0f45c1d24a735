"""A stand-in bot of the test's own (D75Metrics + hooks served on a free port), scraped by a real
Prometheus loaded with rules from the catalog: per-exchange thresholds and retired series."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client import CollectorRegistry

from catalog import load_catalog, render_prometheus_config, render_rule_files
from exporter import D75Metrics, ExchangeHealthHooks, make_metrics_app, serve_in_thread
from local_stack.processes import free_port

DEADLINE = 30.0


class Bot:
    """The stand-in bot and the Prometheus that scrapes it."""

    def __init__(self, metrics: D75Metrics, prom_url: str) -> None:
        self.metrics, self.prom_url = metrics, prom_url
        self.health = ExchangeHealthHooks(metrics)

    def query(self, promql: str) -> list[dict]:
        r = requests.get(f"{self.prom_url}/api/v1/query", params={"query": promql}, timeout=10)
        r.raise_for_status()
        return r.json()["data"]["result"]

    def alerts(self, name: str) -> dict[str, dict]:
        """Active (pending or firing) alerts `name` by exchange, from /api/v1/alerts."""
        r = requests.get(f"{self.prom_url}/api/v1/alerts", timeout=10)
        r.raise_for_status()
        return {
            a["labels"].get("exchange", ""): a for a in r.json()["data"]["alerts"] if a["labels"]["alertname"] == name
        }

    def wait(self, predicate: Callable[[], object], what: str, tick: Callable[[], None] = lambda: None) -> object:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            tick()
            got = predicate()
            if got:
                return got
            time.sleep(0.25)
        raise AssertionError(f"{what}: not within {DEADLINE}s")


@pytest.fixture
def bot_factory(tmp_path: Path, prometheus_factory) -> Iterator[Callable[[dict | None], Bot]]:
    servers = []

    def start(overrides: dict | None = None) -> Bot:
        metrics = D75Metrics(CollectorRegistry(), data_dir=tmp_path, process_collector=False)
        server = serve_in_thread(make_metrics_app(metrics.registry), "127.0.0.1", 0)
        servers.append(server)
        ov = tmp_path / "overrides.yml"
        ov.write_text(yaml.safe_dump(overrides or {}))
        catalog = load_catalog(ov)
        (tmp_path / "rules").mkdir(exist_ok=True)
        for name, text in render_rule_files(catalog).items():
            (tmp_path / "rules" / name).write_text(text)
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text(render_prometheus_config(
            catalog, exporter_target=f"127.0.0.1:{server.port}", alertmanager_target=f"127.0.0.1:{free_port()}",
            rule_files=["rules/*.yml"]))
        _, url = prometheus_factory(cfg)
        return Bot(metrics, url)

    yield start
    for s in servers:
        s.stop()


def test_per_exchange_threshold_fires_for_upbit_and_not_for_binance(bot_factory):
    bot = bot_factory({"alerts": {"ExchangeLatencyCritical": {"by": {"exchange": {"upbit": 1.0}}}}})
    for ex in ("upbit", "binance"):
        bot.health.on_rest_latency(ex, 1.2)
    firing = bot.wait(lambda: {ex: a for ex, a in bot.alerts("ExchangeLatencyCritical").items()
                               if a["state"] == "firing"}, "ExchangeLatencyCritical for upbit")
    assert set(firing) == {"upbit"}
    assert "over 1s" in firing["upbit"]["annotations"]["description"]
    assert firing["upbit"]["labels"]["severity"] == "P0"
    # binance is under the default (2 s) for several more evaluations, then crosses it
    for _ in range(8):
        assert "binance" not in bot.alerts("ExchangeLatencyCritical")
        time.sleep(0.25)
    bot.health.on_rest_latency("binance", 2.5)
    firing = bot.wait(
        lambda: "binance" in bot.alerts("ExchangeLatencyCritical") and bot.alerts("ExchangeLatencyCritical"),
        "ExchangeLatencyCritical for binance past the default",
    )
    assert "over 2s" in firing["binance"]["annotations"]["description"]


def test_a_retired_exchange_stops_paging(bot_factory):
    bot = bot_factory()
    bot.health.on_orderbook_update("upbit", time.time() - 60)      # upbit's book went stale
    fresh = lambda: bot.health.on_orderbook_update("binance")      # noqa: E731 - binance keeps updating
    stale = bot.wait(lambda: bot.alerts("OrderbookStale").get("upbit", {}).get("state") == "firing"
                     and bot.alerts("OrderbookStale"), "[P0] orderbook stale for upbit", tick=fresh)
    assert set(stale) == {"upbit"} and stale["upbit"]["labels"]["severity"] == "P0"

    bot.health.remove("upbit")
    bot.wait(lambda: not bot.query('d75_exchange_orderbook_last_update_timestamp_seconds{exchange="upbit"}'),
             "upbit's series marked stale", tick=fresh)
    bot.wait(lambda: "upbit" not in bot.alerts("OrderbookStale"), "OrderbookStale for upbit resolved", tick=fresh)
    assert bot.query('d75_exchange_orderbook_last_update_timestamp_seconds{exchange="binance"}')
    assert bot.alerts("OrderbookStale") == {}
