"""The real receiver process (`d76 receiver` under waitress) under load and faults.

- More idle keep-alive connections than the connection limit, and many slow or silent clients:
  `/healthz` and a webhook POST still answer at once (the server evicts idle/stalled connections).
- PostgreSQL stopped under a burst of 200 concurrent posts: every answer is 503 with Retry-After
  within 2 s; after the restart the same posts, retried as Alertmanager would, are stored once.
- SQLite locked by another process, or not a database: 503, not 500.
- A value a backend refuses reaching the store directly: the same 400-class error on both backends.
"""
from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import requests

from local_stack.processes import ManagedProcess, PostgresCluster, free_port, wait_http_ok
from tests.support import paths
from tests.support.fakes.payloads import am_alert, am_payload
from webhook_receiver.errors import UnstorableInput
from webhook_receiver.notify.outbox import Outbox
from webhook_receiver.payload import parse_alertmanager_payload
from webhook_receiver.store import open_store

TOKEN = "resilience-token-42"
HDR = {"Authorization": f"Bearer {TOKEN}"}
FIXTURES = paths.AM_FIXTURES

Receiver = tuple[ManagedProcess, str, int]


@pytest.fixture
def start_receiver(receiver_process: Callable[..., tuple[ManagedProcess, str]]) -> Callable[..., Receiver]:
    def start(database_url: str, ready: str = "/readyz", **extra: str) -> Receiver:
        port = free_port()
        proc, url = receiver_process({"DATABASE_URL": database_url, "RECEIVER_TOKEN": TOKEN,
                                      "NOTIFICATIONS_ENABLED": "false", **extra}, port=port, ready=ready)
        return proc, url, port

    return start


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    """One HTTP/1.1 response with Content-Length (what the receiver sends)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the headers")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the body")
        body += chunk
    return int(head.split(b" ", 2)[1]), body


def _keepalive_connection(port: int) -> socket.socket:
    """A connection that has done one request and is kept alive (as an HTTP client pool holds it)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status, _ = _read_response(s)
    assert status == 200
    return s


def _timed(fn: Callable[[], requests.Response]) -> tuple[requests.Response, float]:
    t0 = time.perf_counter()
    r = fn()
    return r, time.perf_counter() - t0


def _post_fixture(url: str) -> tuple[requests.Response, float]:
    body = (FIXTURES / "firing-p0-single.json").read_bytes()
    return _timed(lambda: requests.post(f"{url}/webhook/alertmanager", data=body, headers=HDR, timeout=10))


def _is_open(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


def test_more_idle_keepalives_than_the_limit_never_make_it_deaf(tmp_path: Path,
                                                                start_receiver: Callable[..., Receiver]) -> None:
    limit = 40
    _, url, port = start_receiver(f"sqlite:///{tmp_path / 'a.sqlite3'}", RECEIVER_CONNECTION_LIMIT=str(limit),
                                  RECEIVER_IDLE_TIMEOUT_SECONDS="600")  # the idle timeout must not be what saves us
    held = [_keepalive_connection(port) for _ in range(3 * limit)]  # each one accepted in turn
    try:
        r, healthz_s = _timed(lambda: requests.get(f"{url}/healthz", timeout=5))
        assert r.status_code == 200
        r, post_s = _post_fixture(url)
        assert r.status_code == 200 and r.json()["status"] == "stored"
        print(f"\nheld {len(held)} keep-alive connections (limit {limit}): /healthz {healthz_s * 1000:.1f} ms, "
              f"webhook POST {post_s * 1000:.1f} ms")
        assert healthz_s < 2 and post_s < 2  # functional bound: answered, not queued behind the idle ones
        # the longest idle went first; the most recent are still usable keep-alives
        assert not _is_open(held[0])
        newest = held[-1]
        newest.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _read_response(newest)[0] == 200
        assert sum(_is_open(s) for s in held) < limit
        alerts = requests.get(f"{url}/api/alerts", headers=HDR, timeout=5).json()["alerts"]
        assert [a["fingerprint"] for a in alerts] == ["799840b667ae99f5"]
    finally:
        for s in held:
            s.close()


def test_slow_and_silent_clients_never_make_it_deaf(tmp_path: Path, start_receiver: Callable[..., Receiver]) -> None:
    limit = 40
    proc, url, port = start_receiver(f"sqlite:///{tmp_path / 'a.sqlite3'}", RECEIVER_CONNECTION_LIMIT=str(limit),
                                     RECEIVER_IDLE_TIMEOUT_SECONDS="600", RECEIVER_REQUEST_TIMEOUT_SECONDS="3")
    silent = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(limit)]
    slow = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(limit)]
    idle = [_keepalive_connection(port) for _ in range(limit // 2)]
    stop = threading.Event()
    sent = {id(s): 0 for s in slow}
    request = b"POST /webhook/alertmanager HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n"

    def trickle() -> None:  # slowloris: one byte every 0.2 s per connection, never finishing
        while not stop.wait(0.2):
            for s in slow:
                i = sent[id(s)]
                try:
                    s.sendall(request[i:i + 1] if i < len(request) else b"x")
                    sent[id(s)] = i + 1
                except OSError:
                    pass

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        time.sleep(1.5)  # the slow requests are older than the eviction floor (1 s)
        r, healthz_s = _timed(lambda: requests.get(f"{url}/healthz", timeout=5))
        assert r.status_code == 200
        r, post_s = _post_fixture(url)
        assert r.status_code == 200
        print(f"\n{len(silent)} silent + {len(slow)} trickling + {len(idle)} idle clients (limit {limit}): "
              f"/healthz {healthz_s * 1000:.1f} ms, webhook POST {post_s * 1000:.1f} ms")
        assert healthz_s < 2 and post_s < 2
        # a request that does not arrive within RECEIVER_REQUEST_TIMEOUT_SECONDS is closed
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_is_open(s) for s in slow):
            time.sleep(0.2)
        assert not any(_is_open(s) for s in slow)
        # SIGTERM while clients keep trickling bytes in: a clean, prompt stop
        assert proc.popen is not None
        proc.popen.terminate()
        assert proc.popen.wait(8) == 0
        assert '"msg": "receiver stopped"' in proc.log_tail(5)
    finally:
        stop.set()
        t.join(5)
        for s in silent + slow + idle:
            s.close()


def _burst_payload(i: int) -> bytes:
    a = am_alert("BurstAlert", "P1", labels={"route": f"r{i}"}, starts_at="2026-11-23T01:00:00Z")
    return json.dumps(am_payload(a)).encode()


def test_postgres_stopped_under_a_burst_answers_503_fast_then_stores_once(
        start_receiver: Callable[..., Receiver]) -> None:
    # pytest's tmp_path is 0700 under root; the cluster runs as `postgres` and must reach its folder
    base = Path(tempfile.mkdtemp(prefix="d76-burst-"))
    base.chmod(0o755)
    cluster = PostgresCluster(base / "pg").init().start()
    try:
        _, url, _ = start_receiver(cluster.url)
        r, _ = _post_fixture(url)
        assert r.status_code == 200  # warm: the pool holds connections that the stop will break
        bodies = [_burst_payload(i) for i in range(200)]
        cluster.stop(mode="fast")

        def post(body: bytes) -> tuple[int, float, str | None]:
            t0 = time.perf_counter()
            resp = requests.post(f"{url}/webhook/alertmanager", data=body, headers=HDR, timeout=15)
            return resp.status_code, time.perf_counter() - t0, resp.headers.get("Retry-After")

        with ThreadPoolExecutor(max_workers=200) as pool:
            t0 = time.perf_counter()
            results = list(pool.map(post, bodies))
            burst_s = time.perf_counter() - t0
        statuses = {s for s, _, _ in results}
        slowest = max(d for _, d, _ in results)
        r, readyz_s = _timed(lambda: requests.get(f"{url}/readyz", timeout=5))
        print(f"\nPostgreSQL stopped, 200 concurrent posts: statuses {sorted(statuses)}, slowest answer "
              f"{slowest * 1000:.0f} ms, median {sorted(d for _, d, _ in results)[100] * 1000:.0f} ms, "
              f"whole burst {burst_s:.2f} s; /readyz {r.status_code} in {readyz_s * 1000:.0f} ms")
        assert statuses == {503} and all(ra for _, _, ra in results)
        assert slowest < 2.0
        assert r.status_code == 503 and r.headers["Retry-After"] and readyz_s < 2.0
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200

        cluster.start()
        t_back = time.perf_counter()
        wait_http_ok(f"{url}/readyz", 30)
        ready_s = time.perf_counter() - t_back
        # Alertmanager retries each failed notification; every post is retried until it is stored,
        # and a few are delivered twice (a retry racing a success), which must not store twice.
        pending = list(range(200))
        deadline = time.monotonic() + 60
        while pending and time.monotonic() < deadline:
            with ThreadPoolExecutor(max_workers=50) as pool:
                codes = list(pool.map(lambda i: post(bodies[i])[0], pending))
            assert set(codes) <= {200, 503}
            pending = [i for i, c in zip(pending, codes) if c != 200]
        assert not pending
        for i in range(0, 200, 20):
            assert post(bodies[i])[0] == 200
        with psycopg.connect(cluster.url) as conn:
            n = conn.execute("SELECT count(*) FROM alerts WHERE alertname = 'BurstAlert'").fetchone()
            dup = conn.execute("SELECT count(*) FROM (SELECT fingerprint, starts_at FROM alerts "
                               "GROUP BY 1, 2 HAVING count(*) > 1) d").fetchone()
            twice = conn.execute(
                "SELECT count(*) FROM alerts WHERE alertname = 'BurstAlert' AND receive_count = 2"
            ).fetchone()
        print(f"PostgreSQL back: /readyz 200 after {ready_s:.2f} s; BurstAlert rows {n[0]}, duplicates {dup[0]}")
        assert n == (200,) and dup == (0,) and twice == (10,)
    finally:
        cluster.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


def test_sqlite_locked_or_not_a_database_is_503(tmp_path: Path, start_receiver: Callable[..., Receiver]) -> None:
    db = tmp_path / "locked.sqlite3"
    _, url, _ = start_receiver(f"sqlite:///{db}", RECEIVER_SQLITE_BUSY_TIMEOUT_MS="300")
    other = sqlite3.connect(db, isolation_level=None)  # another process's writer (an admin shell)
    other.execute("BEGIN EXCLUSIVE")
    try:
        r, took = _post_fixture(url)
        assert r.status_code == 503 and r.headers["Retry-After"] and "storage unavailable" in r.json()["error"]
        assert took < 2.0
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert _post_fixture(url)[0].status_code == 200

    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database, it is a text file " * 200)
    _, _, port = start_receiver(f"sqlite:///{garbage}", ready="/healthz", RECEIVER_APPLY_MIGRATIONS="false")
    assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 503
    r, _ = _post_fixture(f"http://127.0.0.1:{port}")
    assert r.status_code == 503 and r.headers["Retry-After"]


def test_values_a_backend_refuses_are_the_same_clear_error_on_both(database_url: str) -> None:
    store = open_store(database_url)
    try:
        store.migrate()
        result = store.ingest(parse_alertmanager_payload((FIXTURES / "firing-p0-single.json").read_bytes()))
        alert_id = result.changes[0].alert_id
        for by, comment in [("a\x00b", None), ("ok", "lone \ud800"), ("ok", "nul \x00")]:
            with pytest.raises(UnstorableInput):
                store.ack_alert(alert_id, by, comment)
        with pytest.raises(UnstorableInput):
            with store.transaction() as tx:
                Outbox(store).enqueue(tx, [{"channel": "console", "kind": "firing", "dedupe_key": "k1",
                                            "payload": {"text": "x\x00y"}}])
        assert store.ack_alert(alert_id, "kim", "fine") is True  # the store is still usable
        assert store.count("notifications") == 0
    finally:
        store.close()
