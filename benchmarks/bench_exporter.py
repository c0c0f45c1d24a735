"""Exporter benchmarks: hook cost on the hot path, and /metrics scrape time and size for a large bot.

Run: `.venv/bin/python -m benchmarks.run exporter`

* hook vs raw prometheus-client ``labels(...).set()`` measured in the same run (goal: ratio <= 0.6);
* pre-bound children (goal: < 1 microsecond per call);
* ServiceHooks: `report()` on the bot's path (goal: < 2 microseconds, no lock), and `register()`
  returns at once while the check runs in the background (a check that hangs costs the bot nothing);
* a scrape of 20 exchanges, 500 routes, 100 symbols over real HTTP (goal: < 50 ms), plain and gzip,
  with and without ``*_created`` series (``d76 simulate`` turns them off);
* ``send_alert``'s cost on the bot's path (checks and the durable spool write; the delivery is the
  spool thread's), with Alertmanager down (the spool grows) and up (its thread drains it meanwhile).
"""
from __future__ import annotations

import gzip
import logging
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import prometheus_client
import requests
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from exporter import ArbRouteHooks, D75Metrics, ExchangeHealthHooks, RateLimiterHooks, ServiceHooks
from exporter.events import EventSender
from exporter.serve import make_metrics_app, serve_in_thread
from simulator.engine import Simulator, SimulatorConfig

N_CALLS = 200_000
REPEATS = 5


def per_call_ns(fn: Callable[[], None], n: int = N_CALLS, repeats: int = REPEATS) -> float:
    """Best-of-``repeats`` nanoseconds per call of ``fn`` (the loop overhead is subtracted)."""

    def loop(f: Callable[[], None]) -> float:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            f()
        return (time.perf_counter_ns() - t0) / n

    def empty() -> None:
        return None

    overhead = min(loop(empty) for _ in range(repeats))
    return min(loop(fn) for _ in range(repeats)) - overhead


def bench_hooks() -> None:
    data_dir = tempfile.mkdtemp(prefix="bench-exporter-")
    m = D75Metrics(CollectorRegistry(), data_dir=data_dir, process_collector=False)
    raw_reg = CollectorRegistry()
    raw_ratio = Gauge("raw_ratio", "raw", ["exchange", "category"], registry=raw_reg)
    raw_route = Gauge("raw_route", "raw", ["route"], registry=raw_reg)
    raw_status = Gauge("raw_status", "raw", ["exchange"], registry=raw_reg)
    raw_child = raw_ratio.labels("binance", "order")

    limiter = RateLimiterHooks(m)
    routes = ArbRouteHooks(m)
    health = ExchangeHealthHooks(m)
    bucket = limiter.bind("binance", "order")
    exchange = health.bind("binance")

    rows = [
        ("rate_limiter.on_consume", lambda: limiter.on_consume("binance", "order", 600, 1200),
         "raw ratio.labels(ex, cat).set(r)", lambda: raw_ratio.labels("binance", "order").set(0.5)),
        ("arb_route.on_score", lambda: routes.on_score("upbit-binance-BTC", 80.0),
         "raw route.labels(route).set(s)", lambda: raw_route.labels("upbit-binance-BTC").set(80.0)),
        ("exchange_health.on_status", lambda: health.on_status("binance", 1),
         "raw status.labels(ex).set(1)", lambda: raw_status.labels("binance").set(1)),
    ]
    print(f"hook cost, best of {REPEATS} x {N_CALLS:,} calls (ns per call; goal: hook/raw <= 0.6)")
    for hook_name, hook, raw_name, raw in rows:
        h, r = per_call_ns(hook), per_call_ns(raw)
        print(f"  {hook_name:<28} {h:7.0f} ns   {raw_name:<34} {r:7.0f} ns   ratio {h / r:4.2f}")
    print("pre-bound children (goal: < 1000 ns)")
    bound_rows = [
        ("bucket.consume(600, 1200)", lambda: bucket.consume(600, 1200)),
        ("bucket.reject()", lambda: bucket.reject()),
        ("exchange.orderbook_update(ts)", lambda: exchange.orderbook_update(1.0)),
        ("exchange.request(True)", lambda: exchange.request(True)),
        ("(reference) raw child.set(0.5)", lambda: raw_child.set(0.5)),
    ]
    for name, fn in bound_rows:
        print(f"  {name:<34} {per_call_ns(fn):7.0f} ns")
    services = ServiceHooks(m)
    raw_up = Gauge("raw_up", "raw", ["service"], registry=raw_reg)
    raw_duration = Gauge("raw_duration", "raw", ["service"], registry=raw_reg)

    def raw_report() -> None:
        raw_up.labels("database").set(1)
        raw_duration.labels("database").set(0.004)

    print("service health (the seeds' SystemMonitor); goal: report() < 2000 ns")
    h, r = per_call_ns(lambda: services.report("database", True, 0.004)), per_call_ns(raw_report)
    print(f"  {'service.report(name, up, latency)':<34} {h:7.0f} ns   {'raw up + duration labels().set()':<34} "
          f"{r:7.0f} ns   ratio {h / r:4.2f}")
    print(f"  {'service.report(name, up)':<34} {per_call_ns(lambda: services.report('feed', True)):7.0f} ns")
    release = threading.Event()
    t0 = time.perf_counter()
    services.register("hangs", lambda: release.wait(30), every=60, timeout=0.5)
    registered_us = (time.perf_counter() - t0) * 1e6
    time.sleep(0.7)
    summary = services.status_summary()["services"]["hangs"]
    print(f"  {'register() of a check that hangs':<34} {registered_us:7.0f} us to return; cut at its 0.5 s "
          f"timeout: up={summary['up']}, {summary['error']!r}")
    release.set()
    services.close()
    errors = m.registry.get_sample_value("d75_exporter_hook_errors_total")
    assert errors is None, "a benchmark call failed inside a hook"


def bench_scrape() -> None:
    cfg = SimulatorConfig(exchanges=20, routes=500, symbols=100, seed=1)
    data_dir = tempfile.mkdtemp(prefix="bench-exporter-")
    sim = Simulator(D75Metrics(CollectorRegistry(), data_dir=data_dir), cfg)
    for _ in range(3):
        sim.tick()
    t0 = time.perf_counter()
    for _ in range(20):
        sim.tick()
    tick_ms = (time.perf_counter() - t0) / 20 * 1000
    srv = serve_in_thread(make_metrics_app(sim.metrics.registry))
    url = f"{srv.url}/metrics"
    series = sum(1 for line in generate_latest(sim.metrics.registry).decode().splitlines()
                 if line and not line.startswith("#"))
    print(f"scrape of {cfg.exchanges} exchanges, {cfg.routes} routes, {cfg.symbols} symbols "
          f"(simulator tick: {tick_ms:.1f} ms to publish everything); goal: < 50 ms")
    session = requests.Session()
    try:
        for created in (True, False):
            if created:
                prometheus_client.enable_created_metrics()
            else:
                prometheus_client.disable_created_metrics()
            for encoding in ("identity", "gzip"):
                times, size = [], 0
                for _ in range(30):
                    t = time.perf_counter()
                    resp = session.get(url, headers={"Accept-Encoding": encoding}, stream=True)
                    body = resp.raw.read()
                    times.append((time.perf_counter() - t) * 1000)
                    size = len(body)
                    if encoding == "gzip":
                        assert resp.headers.get("Content-Encoding") == "gzip"
                        gzip.decompress(body)
                times.sort()
                label = f"{'with' if created else 'without'} _created, {encoding}"
                print(f"  {label:<30} median {statistics.median(times):6.1f} ms  p90 {times[26]:6.1f} ms  "
                      f"{size / 1024:8.1f} KiB on the wire")
            t = time.perf_counter()
            for _ in range(10):
                generate_latest(sim.metrics.registry)
            print(f"    (generate_latest alone: {(time.perf_counter() - t) * 100:.1f} ms)")
        print(f"  samples in the exposition (without _created): {series:,}")
    finally:
        prometheus_client.enable_created_metrics()
        srv.stop()


class _AcceptingAlertmanager(BaseHTTPRequestHandler):
    """`POST /api/v2/alerts` answered 200 at once: the spool's thread drains while the bot writes."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        return None


def bench_events(n: int = 5000) -> None:
    """Microseconds per `send_alert` on the bot's thread (best of 3 runs of `n`)."""
    print(f"send_alert on the bot's path: checks + durable spool write (SQLite WAL), {n:,} events")
    logging.getLogger("d76.events").setLevel(logging.ERROR)  # "not delivered yet" is the point of the first run
    am = ThreadingHTTPServer(("127.0.0.1", 0), _AcceptingAlertmanager)
    threading.Thread(target=am.serve_forever, daemon=True).start()
    down = ThreadingHTTPServer(("127.0.0.1", 0), _AcceptingAlertmanager)
    down_url = f"http://127.0.0.1:{down.server_address[1]}"
    down.server_close()  # nothing listens there: Alertmanager down
    try:
        for label, url in (("Alertmanager down (spool grows)", down_url),
                           ("Alertmanager up (spool thread draining)", f"http://127.0.0.1:{am.server_address[1]}")):
            runs = []
            for _ in range(3):
                folder = Path(tempfile.mkdtemp(prefix="bench-events-"))
                sender = EventSender(url, spool=folder / "events.sqlite3", max_events=1_000_000)
                times = []
                for i in range(n):
                    t = time.perf_counter_ns()
                    sender.send("P2", "system", f"Bench event {i % 50}", "m", {"exchange": "upbit", "n": i})
                    times.append((time.perf_counter_ns() - t) / 1000)
                times.sort()
                runs.append(times)
                left = sender.flush(30) if "up" in label else sender.spool.count()
                sender.sender.stop()
                assert "up" not in label or left == 0, f"{left} events not delivered"
            best = min(runs, key=statistics.median)
            print(f"  {label:<40} median {statistics.median(best):6.1f} us  p99 {best[int(n * 0.99)]:7.1f} us  "
                  f"max {best[-1]:8.1f} us")
    finally:
        am.shutdown()


def main() -> None:
    bench_hooks()
    bench_scrape()
    bench_events()


if __name__ == "__main__":
    main()
