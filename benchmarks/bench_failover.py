"""What a lost PostgreSQL primary costs in the HA shape (`local_stack.patroni`, docs/ha.md).

1. `failover`: for Patroni's default timing and the loopback timings, a Patroni cluster (etcd, a
   primary, a synchronous replica) and the receiver's own `PostgresStore` on the libpq multi-host URL,
   writing one row every 20 ms as a receiver would (503 while its breaker is open). The primary's
   Patroni and PostgreSQL are SIGKILLed (its host dying); measured: kill -> the replica promoted (its
   Patroni reports it primary) -> the first write begun after the kill committed through the store.
   The killed member is then started again (it rewinds and follows) and the new primary is killed
   next, TRIALS times per timing. Acknowledged writes missing afterwards are counted (goal: 0).
   `replica`: the synchronous standby SIGKILLed instead: the longest commit meanwhile (the primary
   waits for the standby until Patroni releases it from synchronous replication).
2. `commit`: one-row insert commits through the store, on the cluster (waits for the synchronous
   standby) and on a lone server (`PostgresCluster`): p50 / p99.
3. `rest`: CPU of both Patronis and etcd over 30 s with nothing happening (% of one core).

Run: `.venv/bin/python -m benchmarks.run failover` (about 6 minutes).
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import requests

from benchmarks.common import percentile, postgres_cluster, scratch_dir
from local_stack.patroni import TIMING, Member, PatroniCluster, Timing
from local_stack.processes import free_port
from webhook_receiver.errors import StorageUnavailable
from webhook_receiver.store.postgres import PostgresStore

TIMINGS = (Timing(30, 10, 10), Timing(10, 1, 4), Timing(6, 1, 2))   # Patroni's default, the stack's, tighter
TRIALS = 3
COMMITS = 2000
REST_SECONDS = 30.0


def _cluster(base: Path, timing: Timing) -> PatroniCluster:
    members = [Member(f"postgres-{x}", free_port(), free_port(), base / f"postgres-{x}") for x in "ab"]
    return PatroniCluster(base, members, (free_port(), free_port()), timing=timing)


class Writer:
    """One row every 20 ms through the store; which writes were acknowledged and when each began."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.acknowledged: dict[int, float] = {}
        self.took: dict[int, float] = {}   # acknowledged write -> how long its commit took
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                with self.store.transaction() as tx:
                    tx.execute("INSERT INTO probe (n) VALUES (%s)", (n,))
                self.acknowledged[n] = began
                self.took[n] = time.monotonic() - began
            except StorageUnavailable:
                self.refused += 1
            n += 1
            time.sleep(0.02)

    def first_after(self, t: float, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            after = [b for b in list(self.acknowledged.values()) if b > t]
            if after:
                return min(after)
            time.sleep(0.02)
        raise RuntimeError("no commit after the kill")

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _role(api_url: str) -> str | None:
    try:
        return requests.get(api_url + "/patroni", timeout=1).json().get("role")
    except (requests.RequestException, ValueError):
        return None


@contextmanager
def _probed_cluster(base: Path, timing: Timing) -> Iterator[tuple[PatroniCluster, PostgresStore]]:
    """A started cluster with an empty `probe` table and the receiver's store on it; both stopped afterwards."""
    cluster = _cluster(base, timing).start(90)
    try:
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE probe (n int PRIMARY KEY)")
        store = PostgresStore(cluster.url, pool_size=4)
        try:
            yield cluster, store
        finally:
            store.close()
    finally:
        cluster.stop()


def _trials(cluster: PatroniCluster, kill: Callable[[], str]) -> None:
    """TRIALS times: two seconds of writes, `kill()` (it names the member it killed), then that member
    started again and back in synchronous replication."""
    for _ in range(TRIALS):
        time.sleep(2)
        killed = kill()
        cluster.start_member(killed)
        cluster.wait_streaming(killed, 120)
        cluster.wait_sync_standby(60)


def _failover(base: Path, timing: Timing) -> list[tuple[float, float]]:
    """(kill -> promoted, kill -> first commit) per trial."""
    out = []
    with _probed_cluster(base, timing) as (cluster, store):
        with Writer(store) as w:
            def kill_primary() -> str:
                primary = cluster.primary()
                assert primary is not None
                other = next(m for m in cluster.members if m.name != primary)
                cluster.kill(primary)
                killed = time.monotonic()
                while _role(other.api_url) not in ("master", "primary"):
                    time.sleep(0.02)
                promoted = time.monotonic() - killed
                first = w.first_after(killed) - killed
                out.append((promoted, first))
                print(f"  ttl {timing.ttl} loop_wait {timing.loop_wait} retry_timeout {timing.retry_timeout}: "
                      f"promoted {promoted:.1f}s, first commit {first:.1f}s after the kill", flush=True)
                return primary

            _trials(cluster, kill_primary)
        with psycopg.connect(cluster.url) as conn:
            rows = {r[0] for r in conn.execute("SELECT n FROM probe")}
        lost = len(set(w.acknowledged) - rows)
        print(f"  {len(w.acknowledged)} writes acknowledged, {w.refused} refused (503), "
              f"acknowledged but missing: {lost}")
    return out


def _replica_loss(base: Path) -> list[float]:
    """The longest commit around a SIGKILL of the synchronous standby, per trial (seconds)."""
    stalls = []
    with _probed_cluster(base, TIMING) as (cluster, store), Writer(store) as w:
        def kill_standby() -> str:
            standby = cluster.wait_sync_standby(60)
            cluster.kill(standby)
            killed = time.monotonic()
            time.sleep(8)
            stall = max(w.took[n] for n, b in list(w.acknowledged.items()) if killed - 1 < b < killed + 8)
            stalls.append(stall)
            print(f"  SIGKILL of the synchronous standby {standby}: longest commit {stall:.2f}s", flush=True)
            return standby

        _trials(cluster, kill_standby)
    return stalls


def _commit_latency(url: str) -> tuple[float, float]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS lat (n int)")
    store = PostgresStore(url, pool_size=2)
    took = []
    try:
        for n in range(COMMITS):
            t0 = time.perf_counter()
            with store.transaction() as tx:
                tx.execute("INSERT INTO lat (n) VALUES (%s)", (n,))
            took.append((time.perf_counter() - t0) * 1000)
    finally:
        store.close()
    return percentile(took, 0.5), percentile(took, 0.99)


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def main() -> None:
    with scratch_dir("d76-bench-failover-") as tmp:
        print("failover: SIGKILL of the primary (Patroni and PostgreSQL), the receiver's store writing every 20 ms")
        results = {}
        for i, timing in enumerate(TIMINGS):
            results[timing] = _failover(tmp / f"t{i}", timing)
        print("\n| ttl / loop_wait / retry_timeout | kill -> promoted | kill -> first commit |")
        print("|---|---|---|")
        for timing, trials in results.items():
            mark = " (the stack's)" if timing == TIMING else " (Patroni's default)" if timing.ttl == 30 else ""
            p = [t[0] for t in trials]
            c = [t[1] for t in trials]
            print(f"| {timing.ttl} / {timing.loop_wait} / {timing.retry_timeout}{mark} | "
                  f"{min(p):.1f} - {max(p):.1f} s | {min(c):.1f} - {max(c):.1f} s |")

        stalls = _replica_loss(tmp / "replica")
        print(f"\nthe synchronous standby lost: the longest commit meanwhile {min(stalls):.2f} - {max(stalls):.2f} s")

        cluster = _cluster(tmp / "commit", TIMING).start(90)
        try:
            sync = _commit_latency(cluster.url)
            pids = [p.pid for p in cluster.procs.values() if p.pid] + ([cluster.etcd.pid] if cluster.etcd else [])
            before = sum(_cpu_ticks(p) for p in pids if p)
            time.sleep(REST_SECONDS)
            after = sum(_cpu_ticks(p) for p in pids if p)
            rest = (after - before) / os.sysconf("SC_CLK_TCK") / REST_SECONDS * 100
        finally:
            cluster.stop()
        with postgres_cluster(tmp / "lone") as lone:
            alone = _commit_latency(lone.url)
        print(f"\ncommit of a one-row insert through the store ({COMMITS} in a row): synchronous standby "
              f"p50 {sync[0]:.2f} ms p99 {sync[1]:.2f} ms; lone server p50 {alone[0]:.2f} ms p99 {alone[1]:.2f} ms")
        print(f"at rest: both Patronis and etcd use {rest:.1f} % of one core (loop_wait {TIMING.loop_wait}s)")
