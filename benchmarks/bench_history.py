"""Retention benchmark on a throwaway PostgreSQL 15 cluster (durable commits, the server defaults).

Loads 1,000,000 rows that retention must delete (500,000 resolved alerts from 100 days ago, each with
one sent notification) plus 100,000 recent alerts it must keep, then:

1. ingest alone: one client posting 1-alert webhook payloads through the Flask app (WSGI, no
   socket) for a few seconds: p50/p99 latency;
2. the same ingest while `Pruner` (the background job's code, default batch 1000 and pause 50 ms)
   deletes the old rows: how long the prune took, rows per second, and the ingest p50/p99/max
   meanwhile.

Run: `.venv/bin/python -m benchmarks.run history` (D76_BENCH_PRUNE_ALERTS=N changes the 500,000).
"""
from __future__ import annotations

import os
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta

from benchmarks.bench_receiver import webhook_body
from benchmarks.common import percentile, postgres_cluster, scratch_dir


def load(url: str, old_alerts: int, recent: int) -> None:
    """Old resolved alerts with one sent notification each, and recent ones, with COPY."""
    import psycopg

    now = datetime.now(UTC)
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            with cur.copy('COPY alerts (id, fingerprint, starts_at, alertname, status, severity, source, title, '
                          'message, labels, annotations, metadata, "timestamp", last_received_at, ends_at, '
                          'receive_count, acknowledged) FROM STDIN') as copy:
                for i in range(old_alerts + recent):
                    old = i < old_alerts
                    s = now - (timedelta(days=100, seconds=i) if old else timedelta(days=10, seconds=i))
                    copy.write_row((i + 1, f"old{i:012x}", s, f"Alert{i % 40}", "resolved", "P2", "arb_route",
                                    "t", "value 42", '{"exchange": "upbit"}', '{"summary": "s"}', "{}", s, s,
                                    s + timedelta(minutes=5), 1, False))
            with cur.copy("COPY notifications (alert_id, channel, destination, kind, severity, status, attempts, "
                          "next_attempt_at, payload, dedupe_key, created_at, updated_at, sent_at) FROM STDIN") as copy:
                for i in range(old_alerts):
                    s = now - timedelta(days=100, seconds=i)
                    copy.write_row((i + 1, "telegram", "-100", "firing", "P2", "sent", 1, s, "{}",
                                    f"{i + 1}:telegram:-100:firing", s, s, s))
        conn.execute("SELECT setval('alerts_id_seq', %s)", (old_alerts + recent + 1,))
        conn.execute("ANALYZE")
        conn.commit()
    print(f"loaded {old_alerts:,} old alerts + {old_alerts:,} notifications (to prune) and {recent:,} recent "
          f"alerts in {time.perf_counter() - t0:.1f}s", flush=True)


def ingest_until(app, stop: threading.Event, seq0: int, lat: list[float], pace: float = 0.01) -> None:  # type: ignore[no-untyped-def]
    c = app.test_client()
    t0 = datetime.now(UTC)
    i = 0
    while not stop.is_set():
        body = webhook_body(seq0 + i, 1, t0)
        s = time.perf_counter()
        r = c.post("/webhook/alertmanager", data=body, content_type="application/json")
        lat.append(time.perf_counter() - s)
        assert r.status_code == 200, r.get_data(as_text=True)
        i += 1
        time.sleep(pace)  # ~ a busy Alertmanager, not a flood: the question is latency, not throughput


def _report(label: str, lat: list[float]) -> None:
    print(f"{label}: {len(lat)} payloads, p50 {statistics.median(lat) * 1000:.1f} ms, "
          f"p99 {percentile(lat, 0.99) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms", flush=True)


def main() -> None:
    import logging

    from webhook_receiver.app import create_app
    from webhook_receiver.history.retention import Pruner
    from webhook_receiver.settings import load_settings

    old = int(os.environ.get("D76_BENCH_PRUNE_ALERTS", "500000"))
    with scratch_dir("d76-bench-history-") as base, postgres_cluster(base) as cluster:
        app = create_app(load_settings({"DATABASE_URL": cluster.url, "NOTIFICATIONS_ENABLED": "false",
                                        "HISTORY_PRUNE": "false", "RECEIVER_DB_POOL_SIZE": "8"}))
        logging.getLogger("webhook_receiver").setLevel(logging.WARNING)
        store = app.extensions["d76_receiver"].store
        load(cluster.url, old, 100_000)
        stop = threading.Event()
        base_lat: list[float] = []
        t = threading.Thread(target=ingest_until, args=(app, stop, 10_000_000, base_lat))
        t.start()
        time.sleep(8)
        stop.set()
        t.join()
        _report("ingest alone", base_lat)

        pruner = Pruner(store)  # the background job's defaults: batch 1000, pause 50 ms
        cut = Pruner.cutoffs(90, 14)
        stop = threading.Event()
        during: list[float] = []
        t = threading.Thread(target=ingest_until, args=(app, stop, 20_000_000, during))
        t.start()
        t0 = time.perf_counter()
        counts = pruner.run(cut)
        took = time.perf_counter() - t0
        stop.set()
        t.join()
        rows = counts.rows["alerts"] + counts.rows["notifications"]
        print(f"pruned {rows:,} rows ({counts.rows['alerts']:,} alerts, {counts.rows['notifications']:,} "
              f"notifications) in {took:.1f}s -> {rows / took:,.0f} rows/s (batch {pruner.batch}, "
              f"pause {pruner.pause_seconds * 1000:.0f} ms)", flush=True)
        _report("ingest during the prune", during)
        left = store.count("alerts")
        assert left >= 100_000 and counts.rows["alerts"] == old, (left, counts.rows)
        store.close()


if __name__ == "__main__":
    main()
