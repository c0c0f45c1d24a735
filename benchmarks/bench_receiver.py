"""Receiver benchmarks on a throwaway PostgreSQL 15 cluster (durable commits: fsync and
synchronous_commit on, the server defaults).

1. Webhook ingest: realistic Alertmanager v4 payloads of 1, 10 and 100 alerts POSTed through the
   Flask app (WSGI, no socket) by 4 client threads; every payload carries new occurrences.
   Prints alerts/s and per-payload p50/p99 latency.
2. `GET /api/alerts` with a one-day time range and a severity filter over 1,000,000 stored alerts
   (bulk-loaded with COPY): p50/p99 latency; the same by activity (`active=true`: the alerts active in
   the day, 10 % of the rows still firing), and `GET /api/stats` of a day and of everything stored.

Run: `.venv/bin/python -m benchmarks.run receiver`
"""
from __future__ import annotations

import json
import os
import random
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta

from benchmarks.common import percentile, postgres_cluster, run_threads, scratch_dir
from vocabulary import SEVERITIES, SOURCES


def webhook_body(seq: int, size: int, t0: datetime) -> bytes:
    """An Alertmanager v4 body of `size` new firing alerts, numbered from `seq * size`."""
    alerts = []
    for j in range(size):
        n = seq * size + j
        sev = SEVERITIES[n % 4]
        labels = {"alertname": "RouteScoreLow", "exchange": "binance", "route": f"upbit-binance-C{n}",
                  "severity": sev, "source": "arb_route", "job": "d75", "instance": "127.0.0.1:9876"}
        alerts.append({
            "status": "firing", "labels": labels,
            "annotations": {"summary": f"Route score {n % 50} < 50", "description": f"score fell to {n % 50}; 한국어",
                            "runbook_url": "https://example.invalid/runbooks/route-score-low"},
            "startsAt": (t0 + timedelta(milliseconds=n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=d75_route_score+%3C+50",
            "fingerprint": f"{n:016x}",
        })
    return json.dumps(
        {
            "receiver": "d76",
            "status": "firing",
            "alerts": alerts,
            "groupLabels": {"alertname": "RouteScoreLow"},
            "commonLabels": {"alertname": "RouteScoreLow"},
            "commonAnnotations": {},
            "externalURL": "http://127.0.0.1:9093",
            "version": "4",
            "groupKey": '{}:{alertname="RouteScoreLow"}',
            "truncatedAlerts": 0,
        }
    ).encode()


def bench_ingest(app, group: int, payloads: int, seq0: int, threads: int = 4) -> None:  # type: ignore[no-untyped-def]
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    bodies = [webhook_body(seq0 + i, group, t0) for i in range(payloads)]
    lat: list[float] = []
    lock = threading.Lock()
    it = iter(bodies)

    def worker() -> None:
        c = app.test_client()
        mine = []
        while True:
            with lock:
                b = next(it, None)
            if b is None:
                break
            s = time.perf_counter()
            r = c.post("/webhook/alertmanager", data=b, content_type="application/json")
            mine.append(time.perf_counter() - s)
            assert r.status_code == 200, r.get_data(as_text=True)
        with lock:
            lat.extend(mine)

    wall = run_threads(worker, threads)
    print(f"ingest group={group:>3}: {payloads} payloads, {payloads * group} alerts in {wall:.2f}s -> "
          f"{payloads * group / wall:,.0f} alerts/s, {payloads / wall:,.0f} payloads/s; "
          f"latency p50 {statistics.median(lat) * 1000:.1f} ms, p99 {percentile(lat, 0.99) * 1000:.1f} ms", flush=True)


def bulk_load(url: str, rows: int) -> tuple[datetime, datetime]:
    import psycopg

    rnd = random.Random(76)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    span = timedelta(days=60)
    t = time.perf_counter()
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            with cur.copy('COPY alerts (fingerprint, starts_at, alertname, status, severity, source, title, message, '
                          'labels, annotations, metadata, "timestamp", last_received_at, ends_at, receive_count, '
                          'acknowledged) FROM STDIN') as copy:
                for i in range(rows):
                    sev = rnd.choices(SEVERITIES, weights=(1, 3, 10, 6))[0]
                    src = rnd.choice(SOURCES)
                    s = start + timedelta(seconds=rnd.random() * span.total_seconds())
                    resolved = rnd.random() < 0.9
                    labels = json.dumps({"alertname": f"Alert{i % 40}", "severity": sev, "source": src,
                                         "exchange": f"ex{i % 7}"})
                    copy.write_row((f"{i:016x}", s, f"Alert{i % 40}", "resolved" if resolved else "firing", sev, src,
                                    f"Alert{i % 40} on ex{i % 7}", "value 42", labels,
                                    '{"summary": "s", "description": "value 42"}', '{"receiver": "d76"}', s, s,
                                    s + timedelta(minutes=5) if resolved else None, 1, rnd.random() < 0.3))
        conn.execute("ANALYZE alerts")
    print(f"bulk-loaded {rows:,} alerts with COPY in {time.perf_counter() - t:.1f}s", flush=True)
    return start, start + span


def bench_query(app, start: datetime, end: datetime, n: int = 400,  # type: ignore[no-untyped-def]
                rows_label: str = "1M") -> list[tuple[str, float]]:
    """Prints each query's p50/p99; returns [(what, p99 seconds)]."""
    rnd = random.Random(1)
    out: list[tuple[str, float]] = []
    c = app.test_client()
    for sev, label in ((["P1"], "severity=P1"), (["P0", "P1"], "severity=P0,P1"), (["P2"], "severity=P2"),
                       (["P1"], "severity=P1 active=true")):
        lat: list[float] = []
        counts: list[int] = []
        for _ in range(n):
            since = start + timedelta(seconds=rnd.random() * ((end - start).total_seconds() - 86400))
            until = since + timedelta(days=1)
            qs = {"since": since.strftime("%Y-%m-%dT%H:%M:%SZ"), "until": until.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "severity": sev, "limit": "100", **({"active": "true"} if "active" in label else {})}
            s = time.perf_counter()
            r = c.get("/api/alerts", query_string=qs)
            lat.append(time.perf_counter() - s)
            assert r.status_code == 200, r.get_data(as_text=True)
            counts.append(r.json["count"])
        what = f"GET /api/alerts 1-day range + {label}, limit 100, over {rows_label} rows"
        print(f"{what}: {n} requests, p50 {statistics.median(lat) * 1000:.2f} ms, "
              f"p99 {percentile(lat, 0.99) * 1000:.2f} ms (mean rows returned {statistics.mean(counts):.0f})",
              flush=True)
        out.append((what, percentile(lat, 0.99)))
    for label, window, runs in (("a 1-day window", True, 40), ("no window (everything stored)", False, 10)):
        lat = []
        for _ in range(runs):
            since = start + timedelta(seconds=rnd.random() * ((end - start).total_seconds() - 86400))
            qs = {"since": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "until": (since + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")} if window else {}
            s = time.perf_counter()
            r = c.get("/api/stats", query_string=qs)
            lat.append(time.perf_counter() - s)
            assert r.status_code == 200, r.get_data(as_text=True)
        print(f"GET /api/stats {label} over {rows_label} rows (by activity): {runs} requests, p50 "
              f"{statistics.median(lat) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms (total {r.json['total']:,})",
              flush=True)
    return out


def main() -> None:
    from webhook_receiver.app import create_app
    from webhook_receiver.settings import load_settings

    rows = int(os.environ.get("D76_BENCH_ROWS", "1000000"))
    with scratch_dir("d76-bench-receiver-") as base, postgres_cluster(base) as cluster:
        with __import__("psycopg").connect(cluster.url) as conn:
            fsync = conn.execute("SHOW fsync").fetchone()[0]
            sync = conn.execute("SHOW synchronous_commit").fetchone()[0]
        print(f"PostgreSQL 15 throwaway cluster: fsync={fsync}, synchronous_commit={sync}; {os.cpu_count()} CPUs")
        app = create_app(load_settings({"DATABASE_URL": cluster.url, "NOTIFICATIONS_ENABLED": "false",
                                        "RECEIVER_DB_POOL_SIZE": "8", "RECEIVER_MAX_BODY_BYTES": str(8 * 1024 * 1024)}))
        import logging

        logging.getLogger("webhook_receiver").setLevel(logging.WARNING)
        bench_ingest(app, 1, 50, 0)  # warm-up
        seq = 1_000_000
        for group, payloads in ((1, 2000), (10, 400), (100, 60)):
            bench_ingest(app, group, payloads, seq)
            seq += payloads * 10
        store = app.extensions["d76_receiver"].store
        with store.transaction() as tx:
            tx.execute("TRUNCATE alerts, webhook_payloads, notifications, suppressed_episodes CASCADE")
        start, end = bulk_load(cluster.url, rows)
        bench_query(app, start, end)
        store.close()


if __name__ == "__main__":
    main()
