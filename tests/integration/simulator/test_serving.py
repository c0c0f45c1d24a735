"""serve_in_thread: the metrics app on a real loopback socket under wsgiref and waitress."""
from __future__ import annotations

import gzip
import socket
import threading
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry

from exporter import D75Metrics, RateLimiterHooks, make_metrics_app, serve_in_thread
from simulator.app import make_simulator_app
from simulator.engine import Simulator, SimulatorConfig


def _refused(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return False
    except OSError:
        return True


@pytest.mark.parametrize("server", ["wsgiref", "waitress"])
def test_serve_in_thread_serves_gzip_and_stops(tmp_path: Path, server: str) -> None:
    m = D75Metrics(CollectorRegistry(), data_dir=tmp_path)
    RateLimiterHooks(m).on_http_429("binance", "order")
    srv = serve_in_thread(make_metrics_app(m.registry), "127.0.0.1", 0, server=server)  # type: ignore[arg-type]
    try:
        assert srv.port > 0 and srv.url == f"http://127.0.0.1:{srv.port}"
        plain = requests.get(f"{srv.url}/metrics", headers={"Accept-Encoding": "identity"}, timeout=10)
        assert 'd75_rate_limit_http_429_total{category="order",exchange="binance"} 1.0' in plain.text
        zipped = requests.get(f"{srv.url}/metrics", headers={"Accept-Encoding": "gzip"}, timeout=10, stream=True)
        assert zipped.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(zipped.raw.read()).decode().count("d75_rate_limit_http_429_total{") == 1
        # concurrent scrapes are served (threaded servers)
        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(
            requests.get(f"{srv.url}/metrics", timeout=10).status_code)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [200] * 6
    finally:
        srv.stop()
    srv.stop()                                   # idempotent
    assert not srv._thread.is_alive()            # noqa: SLF001
    assert _refused("127.0.0.1", srv.port)


def test_port_in_use_raises_in_the_caller(tmp_path: Path) -> None:
    m = D75Metrics(CollectorRegistry(), data_dir=tmp_path)
    srv = serve_in_thread(make_metrics_app(m.registry))
    try:
        with pytest.raises(OSError):
            serve_in_thread(make_metrics_app(m.registry), "127.0.0.1", srv.port)
    finally:
        srv.stop()


def test_unknown_server_kind(tmp_path: Path) -> None:
    m = D75Metrics(CollectorRegistry(), data_dir=tmp_path)
    with pytest.raises(ValueError):
        serve_in_thread(make_metrics_app(m.registry), server="gunicorn")  # type: ignore[arg-type]


def test_simulator_app_in_process_under_waitress(tmp_path: Path) -> None:
    """The same app the CLI serves, embedded (as a demo or a test harness would) under waitress."""
    sim = Simulator(D75Metrics(CollectorRegistry(), data_dir=tmp_path), SimulatorConfig(seed=2, tick=0.05))
    srv = serve_in_thread(make_simulator_app(sim), server="waitress")
    sim.start()
    try:
        r = requests.post(f"{srv.url}/scenario", json={"scenario": "route-collapse"}, timeout=10)
        assert r.status_code == 200
        text = requests.get(f"{srv.url}/metrics", timeout=10).text
        assert 'd75_route_score{route="upbit-binance-BTC"} 30.0' in text
    finally:
        sim.stop()
        srv.stop()
