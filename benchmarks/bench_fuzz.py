"""Mutation soak: N mutated Alertmanager bodies against a live receiver, counted by status.

The receiver is the real `d76 receiver` process (waitress, notifications on in dry-run as the CLI
runs them, bearer token) on a throwaway PostgreSQL 15 cluster (or SQLite). Bodies come from
`tests/support/fakes/mutations.py` (the Alertmanager 0.25 fixtures, mutated structurally, in
serialisation and at the byte level) with a fixed seed, posted by a few keep-alive clients. Then
200 posts with a wrong or missing token. Prints the counts by status (target: no 5xx), the rate,
and checks that every 200 stored exactly one payload row and that 4xx/401 stored nothing. Bodies
that got a 5xx are written to a folder for replay.

Environment: BENCH_FUZZ_BODIES (10000), BENCH_FUZZ_SEED (20261123), BENCH_FUZZ_THREADS (4),
BENCH_FUZZ_BACKEND (postgresql | sqlite).
Run: `.venv/bin/python -m benchmarks.run fuzz`
"""
from __future__ import annotations

import os
import random
import sys
import threading
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import requests

from benchmarks.common import postgres_cluster, run_threads, scratch_dir

__all__ = ["main"]

TOKEN = "bench-fuzz-token"


def _count_rows(database_url: str, table: str) -> int:
    from webhook_receiver.store import open_store

    store = open_store(database_url)
    try:
        return store.count(table)
    finally:
        store.close()


def main() -> None:
    from local_stack.processes import ManagedProcess, free_port, wait_http_ok
    from tests.support.fakes.mutations import load_seed_bodies, mutate_body

    n = int(os.environ.get("BENCH_FUZZ_BODIES", "10000"))
    seed = int(os.environ.get("BENCH_FUZZ_SEED", "20261123"))
    threads = int(os.environ.get("BENCH_FUZZ_THREADS", "4"))
    backend = os.environ.get("BENCH_FUZZ_BACKEND", "postgresql")
    with scratch_dir("d76-bench-fuzz-") as base, ExitStack() as running:
        if backend == "postgresql":
            database_url = running.enter_context(postgres_cluster(base)).url
        else:
            database_url = f"sqlite:///{base / 'fuzz.sqlite3'}"
        port = free_port()
        env = {**os.environ, "DATABASE_URL": database_url, "RECEIVER_TOKEN": TOKEN}
        proc = ManagedProcess("receiver", [str(Path(sys.executable).with_name("d76")), "receiver", "--listen",
                                           f"127.0.0.1:{port}"], base / "receiver.log", env=env).start()
        running.callback(proc.stop)
        url = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{url}/readyz", 60, proc)

        rng = random.Random(seed)
        seeds = load_seed_bodies()
        bodies = [mutate_body(rng.choice(seeds), rng) for _ in range(n)]
        print(f"{n} mutated bodies (seed {seed}, {sum(map(len, bodies)) / n / 1024:.1f} KiB mean) -> live receiver "
              f"on {backend}, {threads} keep-alive clients", flush=True)

        counts: Counter[int] = Counter()
        failures: list[tuple[int, int, bytes]] = []
        lock = threading.Lock()
        it = iter(enumerate(bodies))
        hdr = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

        def worker() -> None:
            s = requests.Session()
            while True:
                with lock:
                    item = next(it, None)
                if item is None:
                    return
                i, body = item
                try:
                    status = s.post(f"{url}/webhook/alertmanager", data=body, headers=hdr, timeout=30).status_code
                except requests.RequestException:
                    status = 0  # no answer at all
                with lock:
                    counts[status] += 1
                    if status >= 500 or status == 0:
                        failures.append((i, status, body))

        took = run_threads(worker, threads)
        print(
            "by status: " + ", ".join(f"{c} x {s if s else 'no answer'}" for s, c in sorted(counts.items())), flush=True
        )
        print(f"{n / took:.0f} bodies/s ({took:.1f} s); 5xx or no answer: "
              f"{sum(c for s, c in counts.items() if s >= 500 or s == 0)}", flush=True)
        if failures:
            keep = base.parent / f"d76-fuzz-failures-{seed}"
            keep.mkdir(exist_ok=True)
            for i, status, body in failures[:50]:
                (keep / f"{i:05d}-{status}.json").write_bytes(body)
            print(f"bodies that failed: {keep}", flush=True)

        payloads_after_fuzz = _count_rows(database_url, "webhook_payloads")
        bad_auth: Counter[int] = Counter()
        for i in range(200):
            h = {"Content-Type": "application/json"}
            if i % 2:
                h["Authorization"] = "Bearer wrong-" + str(i)
            bad_auth[
                requests.post(f"{url}/webhook/alertmanager", data=bodies[i], headers=h, timeout=10).status_code
            ] += 1
        payloads_after_auth = _count_rows(database_url, "webhook_payloads")
        healthy = requests.get(f"{url}/healthz", timeout=5).status_code
        alerts = _count_rows(database_url, "alerts")
        print(f"wrong or missing token: {dict(bad_auth)}; stored by them: {payloads_after_auth - payloads_after_fuzz}",
              flush=True)
        print(f"stored: {payloads_after_fuzz} payload rows for {counts.get(200, 0)} x 200 "
              f"({'equal' if payloads_after_fuzz == counts.get(200, 0) else 'MISMATCH'}), {alerts} distinct alerts; "
              f"/healthz after the soak: {healthy}", flush=True)
        proc.stop()
        errors = [line for line in (base / "receiver.log").read_text(errors="replace").splitlines()
                  if '"level": "error"' in line or "Traceback" in line]
        print(f"receiver log: {len(errors)} error lines" + "".join(f"\n  {e[:300]}" for e in errors[:5]), flush=True)


if __name__ == "__main__":
    main()
