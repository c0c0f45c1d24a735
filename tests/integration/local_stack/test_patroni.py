"""The HA shape's PostgreSQL on its own: a real Patroni cluster (etcd, a primary, a synchronous
streaming replica; `local_stack.patroni`) and the receiver's real PostgreSQL store on its libpq
multi-host URL. The cases run in order on one cluster: the command line takes that URL, the store
writes through a SIGKILL of the primary (every commit it was told of survives; the breaker finds the
promoted replica), the former primary comes back as a replica, and a stop and start keeps the newest
member the primary.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from local_stack.patroni import Member, PatroniCluster, postmaster_pid
from local_stack.processes import free_port, port_in_use
from tests.support import paths
from tests.support.waiting import until
from webhook_receiver.errors import StorageUnavailable
from webhook_receiver.store.postgres import PostgresStore

pytestmark = pytest.mark.timeout(300)


def _cluster(base: Path, ports: list[tuple[int, int]], etcd: tuple[int, int]) -> PatroniCluster:
    members = [Member(f"postgres-{x}", pg, api, base / f"postgres-{x}") for x, (pg, api) in zip("ab", ports)]
    return PatroniCluster(base, members, etcd)


@pytest.fixture(scope="module")
def layout(session_tmp: Path) -> dict:
    return {"base": session_tmp / "patroni", "ports": [(free_port(), free_port()) for _ in range(2)],
            "etcd": (free_port(), free_port())}


@pytest.fixture(scope="module")
def cluster(layout: dict) -> Iterator[PatroniCluster]:
    c = _cluster(layout["base"], layout["ports"], layout["etcd"]).start(90)
    yield c
    c.stop()


def _insert(store: PostgresStore, n: int) -> None:
    with store.transaction() as tx:
        tx.execute("INSERT INTO probe (n) VALUES (%s)", (n,))


def _server_port(store: PostgresStore) -> int:
    with store.transaction(write=False) as tx:
        row = tx.fetchone("SELECT inet_server_port() AS port, pg_is_in_recovery() AS standby")
    assert row is not None and row["standby"] is False
    return int(row["port"])


def test_a_primary_and_a_synchronous_replica_that_refuses_writes(cluster: PatroniCluster) -> None:
    assert cluster.primary() == "postgres-a"
    assert cluster.wait_sync_standby(5) == "postgres-b"
    assert "target_session_attrs=read-write" in cluster.url and cluster.url.count("127.0.0.1:") == 2
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE probe (n int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())")
        assert conn.execute("SELECT inet_server_port()").fetchone() == (cluster.members[0].pg_port,)
    replica = cluster.members[1]
    with psycopg.connect(host="127.0.0.1", port=replica.pg_port, user="postgres", dbname="d76",
                         autocommit=True) as conn:
        # a synchronous commit waits for the standby to flush the WAL, not to replay it: wait for the table
        until(lambda: conn.execute("SELECT to_regclass('probe') IS NOT NULL").fetchone() == (True,), 10,
              what="the replica replays CREATE TABLE probe")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO probe (n) VALUES (-1)")


def test_the_cli_takes_the_multi_host_url_and_shows_it_masked(cluster: PatroniCluster) -> None:
    url = cluster.url.replace("postgres@", "postgres:pw-secret@")  # trust on loopback: any password does
    r = subprocess.run([sys.executable, "-m", "d76_cli.main", "db", "upgrade", "--database-url", url],
                       capture_output=True, text=True, timeout=120, cwd=paths.REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    shown = cluster.url.replace("postgres@", "postgres:***@")
    assert r.stdout.startswith(f"{shown}: applied ") and "pw-secret" not in r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-m", "d76_cli.main", "db", "current", "--database-url", url],
                       capture_output=True, text=True, timeout=60, cwd=paths.REPO)
    assert r.returncode == 0 and "(up to date)" in r.stdout, r.stdout + r.stderr


def test_the_store_follows_a_sigkill_of_the_primary_and_keeps_every_acknowledged_commit(
        cluster: PatroniCluster) -> None:
    store = PostgresStore(cluster.url, pool_size=4)
    acknowledged: dict[int, float] = {}   # write -> when it began (monotonic)
    refused: list[int] = []
    stop = threading.Event()

    def write() -> None:  # as the receiver does: 503 while the breaker is open, go on
        n = 0
        while not stop.is_set():
            began = time.monotonic()
            try:
                _insert(store, n)
                acknowledged[n] = began
            except StorageUnavailable:
                refused.append(n)
            n += 1
            time.sleep(0.01)

    try:
        assert _server_port(store) == cluster.members[0].pg_port
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        time.sleep(1.0)
        cluster.kill("postgres-a")
        killed_at = time.monotonic()  # the member's processes are gone
        assert postmaster_pid(cluster.members[0].data_dir) is None
        deadline = killed_at + 60
        while not any(began > killed_at for began in list(acknowledged.values())):
            assert time.monotonic() < deadline, f"no commit on a new primary 60s after the kill ({len(refused)} " \
                                                "refused)"
            time.sleep(0.02)
        took = min(b for b in acknowledged.values() if b > killed_at) - killed_at
        stop.set()
        writer.join(5)
        print(f"\nstore: first write begun {took:.1f}s after the SIGKILL of the primary committed; {len(refused)} "
              f"writes refused (503) meanwhile; breaker trips {store.breaker.trips}")
        assert cluster.primary() == "postgres-b"
        assert _server_port(store) == cluster.members[1].pg_port  # the pool was drained: no stale connection
        assert store.breaker.trips >= 1 and not store.breaker.is_open
        with psycopg.connect(cluster.url) as conn:
            rows = {r[0] for r in conn.execute("SELECT n FROM probe")}
        # synchronous replication: nothing acknowledged was lost
        assert set(acknowledged) <= rows and len(acknowledged) >= 10  # (about 35-100 on a 2-CPU machine)
        # of the refused writes only the one in flight at the kill may be there (its commit reached the
        # standby, its answer never came back: the receiver said 503, Alertmanager retries, the ingest
        # is idempotent)
        assert refused and rows & set(refused) <= {refused[0]}
    finally:
        stop.set()
        store.close()


def test_the_former_primary_rejoins_as_the_synchronous_replica(cluster: PatroniCluster) -> None:
    t0 = time.monotonic()
    cluster.start_member("postgres-a")
    cluster.wait_streaming("postgres-a", 60)
    assert cluster.wait_sync_standby(30) == "postgres-a"
    print(f"\npostgres-a back as the synchronous replica {time.monotonic() - t0:.1f}s after its start")
    assert cluster.primary() == "postgres-b"
    a = cluster.members[0]
    with psycopg.connect(host="127.0.0.1", port=a.pg_port, user="postgres", dbname="d76") as conn:
        assert conn.execute("SELECT pg_is_in_recovery(), count(*) > 0 FROM probe").fetchone() == (True, True)


def test_a_stop_then_a_start_keeps_the_newest_member_the_primary(cluster: PatroniCluster, layout: dict) -> None:
    """The replica dies, the primary commits alone (synchronous mode lets it go on without a standby),
    the cluster stops: the primary's data is the newer, so it starts first and stays the primary."""
    cluster.kill("postgres-a")
    _wait_until("postgres-b commits without a standby", lambda: _try_insert(cluster.url, 1_000_000))
    with psycopg.connect(cluster.url) as conn:
        count = conn.execute("SELECT count(*) FROM probe").fetchone()
    cluster.stop()
    ports = [p for pair in layout["ports"] for p in pair] + list(layout["etcd"])
    assert not any(port_in_use(p) for p in ports)
    assert all(postmaster_pid(m.data_dir) is None for m in cluster.members)
    again = _cluster(layout["base"], layout["ports"], layout["etcd"])
    assert [m.name for m in again._start_order()] == ["postgres-b", "postgres-a"]
    again.start(90)
    try:
        states = {m.name: again.state(m.name) for m in again.members}
        assert again.primary() == "postgres-b", states
        with psycopg.connect(again.url) as conn:
            assert conn.execute("SELECT count(*) FROM probe").fetchone() == count
    finally:
        again.stop()
    assert not any(port_in_use(p) for p in ports)


def _try_insert(url: str, n: int) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("INSERT INTO probe (n) VALUES (%s)", (n,))
        return True
    except psycopg.OperationalError:
        return False


def _wait_until(what: str, ok, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline, f"{what}: not after {timeout:.0f}s"
        time.sleep(0.1)
