"""ServiceHooks in a stand-in bot, scraped by a real Prometheus with the catalog's rules: a failing
check turns `d75_service_up` to 0 and ServiceDown fires (P1, with its action); a hung check is cut at
its timeout; an HTTP health check follows a real HTTP service."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry

from catalog import load_catalog
from exporter import D75Metrics, ServiceHooks, make_metrics_app, serve_in_thread
from local_stack.processes import free_port, start_prometheus
from tests.support.stacks import write_overrides, write_prometheus_config
from tests.support.waiting import until

DEADLINE = 30.0


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return None


@dataclass
class Bot:
    services: ServiceHooks
    prom_url: str
    flags: dict[str, bool]
    release: threading.Event

    def up(self, service: str) -> float | None:
        r = requests.get(f"{self.prom_url}/api/v1/query",
                         params={"query": f'd75_service_up{{service="{service}"}}'}, timeout=10)
        result = r.json()["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def firing(self, service: str) -> list[dict]:
        r = requests.get(f"{self.prom_url}/api/v1/alerts", timeout=10)
        return [a for a in r.json()["data"]["alerts"] if a["labels"]["alertname"] == "ServiceDown"
                and a["labels"].get("service") == service and a["state"] == "firing"]

    def wait(self, predicate: Callable[[], object], what: str) -> object:
        return until(predicate, DEADLINE, 0.2, what)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    tmp: Path = tmp_path_factory.mktemp("services")
    metrics = D75Metrics(CollectorRegistry(), data_dir=tmp, process_collector=False)
    services = ServiceHooks(metrics)
    flags = {"database": True, "hang": False}
    release = threading.Event()

    def hangs() -> bool:
        if flags["hang"]:
            release.wait(60)
        return True

    health = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=health.serve_forever, daemon=True).start()
    services.register("database", lambda: flags["database"], every=0.5, timeout=0.5)
    services.register("feed", hangs, every=0.5, timeout=0.4)
    services.http("exchange_api", f"http://127.0.0.1:{health.server_address[1]}/health", every=0.5, timeout=1)
    server = serve_in_thread(make_metrics_app(metrics.registry), "127.0.0.1", 0)
    # ServiceDown's default `for` (1m), shortened
    catalog = load_catalog(write_overrides(tmp, {"alerts": {"ServiceDown": {"for": "1s"}}}))
    cfg = write_prometheus_config(tmp, catalog, f"127.0.0.1:{server.port}")
    port = free_port()
    prom = start_prometheus(cfg, port, tmp / "data", tmp / "prom.log")
    try:
        yield Bot(services, f"http://127.0.0.1:{port}", flags, release)
    finally:
        release.set()
        prom.stop()
        server.stop()
        services.close()
        health.shutdown()


def test_all_up_then_a_failing_check_fires_service_down(bot: Bot) -> None:
    for service in ("database", "feed", "exchange_api"):
        bot.wait(lambda s=service: bot.up(s) == 1.0, f"{service} up in Prometheus")
    assert bot.firing("database") == []
    bot.flags["database"] = False
    bot.wait(lambda: bot.up("database") == 0.0, "d75_service_up 0 after the check fails")
    alert = bot.wait(lambda: bot.firing("database"), "ServiceDown firing")[0]  # type: ignore[index]
    assert alert["labels"]["severity"] == "P1" and alert["labels"]["source"] == "system"
    assert alert["annotations"]["summary"] == "Bot service database is down"
    assert alert["annotations"]["action"].startswith("Check database itself")
    assert alert["annotations"]["value"] == "DOWN"
    assert "Now: status DOWN · last check took" in alert["annotations"]["description"]
    assert bot.services.status_summary()["services"]["database"]["error"] == "check returned false"
    bot.flags["database"] = True
    bot.wait(lambda: not bot.firing("database") and bot.up("database") == 1.0, "ServiceDown resolves")


def test_a_hung_check_is_cut_at_its_timeout_and_the_service_is_down(bot: Bot) -> None:
    bot.flags["hang"] = True
    t0 = time.monotonic()
    bot.wait(lambda: bot.services.status_summary()["services"]["feed"]["up"] is False, "feed down")
    assert time.monotonic() - t0 < 5      # one period (0.5 s) plus the 0.4 s timeout, with room for a busy box
    error = bot.services.status_summary()["services"]["feed"]["error"]
    assert error.startswith(("timed out after 0.4s", "check still running")), error
    bot.wait(lambda: bot.up("feed") == 0.0, "Prometheus sees feed down")
    bot.wait(lambda: bot.firing("feed"), "ServiceDown for the hung feed")
    bot.flags["hang"] = False
    bot.release.set()                      # the hung run returns; the next one passes
    bot.wait(lambda: bot.up("feed") == 1.0, "feed up again")


def test_the_http_check_follows_the_service(bot: Bot) -> None:
    _Health.status = 503
    try:
        bot.wait(lambda: bot.up("exchange_api") == 0.0, "exchange_api down on 503")
        assert "503" in bot.services.status_summary()["services"]["exchange_api"]["error"]
    finally:
        _Health.status = 200
    bot.wait(lambda: bot.up("exchange_api") == 1.0, "exchange_api up again")
