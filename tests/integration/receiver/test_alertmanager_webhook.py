"""A real Alertmanager 0.25 posting to the real receiver process (`d76 receiver` under waitress).

Also: PostgreSQL outage (503, then everything Alertmanager retried is stored exactly once after the
restart), on a PostgreSQL cluster of its own so the shared session cluster is never stopped.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from local_stack.processes import ManagedProcess, PostgresCluster
from tests.support import paths

TOKEN = "am-test-token-123"
HDR = {"Authorization": f"Bearer {TOKEN}"}

Receiver = tuple[ManagedProcess, str]


@pytest.fixture
def start_receiver(receiver_process: Callable[..., Receiver]) -> Callable[..., Receiver]:
    def start(database_url: str, **extra: str) -> Receiver:
        return receiver_process(
            {
                "DATABASE_URL": database_url,
                "RECEIVER_TOKEN": TOKEN,
                "NOTIFICATIONS_ENABLED": "false",
                "RECEIVER_DB_POOL_TIMEOUT": "1",
                **extra,
            },
            threads=4,
        )

    return start


def am_config(tmp_path: Path, receiver_url: str) -> Path:
    token_file = tmp_path / "receiver-token"
    token_file.write_text(TOKEN)
    cfg = tmp_path / "alertmanager.yml"
    cfg.write_text(f"""
route:
  receiver: d76
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: d76
    webhook_configs:
      - url: {receiver_url}/webhook/alertmanager
        send_resolved: true
        max_alerts: 0
        http_config:
          authorization:
            type: Bearer
            credentials_file: {token_file}
""")
    return cfg


def push(am_url: str, alerts: list[dict[str, Any]]) -> None:
    r = requests.post(f"{am_url}/api/v2/alerts", json=alerts, timeout=5)
    assert r.status_code == 200, r.text


def am_alert(name: str, route: str, starts: datetime, ends: datetime | None = None, sev: str = "P2") -> dict[str, Any]:
    a: dict[str, Any] = {
        "labels": {"alertname": name, "route": route, "severity": sev, "source": "arb_route"},
        "annotations": {"summary": f"{name} on {route}", "description": "score 42"},
        "startsAt": starts.isoformat(), "generatorURL": "http://127.0.0.1:9090/graph",
    }
    if ends is not None:
        a["endsAt"] = ends.isoformat()
    return a


def poll(fn: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except requests.RequestException as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def stored(url: str, **params: str) -> list[dict[str, Any]]:
    r = requests.get(f"{url}/api/alerts", params={"limit": "500", **params}, headers=HDR, timeout=5)
    r.raise_for_status()
    return r.json()["alerts"]


def test_alertmanager_to_receiver(database_url: str, tmp_path: Path, start_receiver: Callable[..., Receiver],
                                  alertmanager_factory: Callable[[Path], tuple[ManagedProcess, str]]) -> None:
    _, url = start_receiver(database_url)
    _, am = alertmanager_factory(am_config(tmp_path, url))
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    group = [am_alert("RouteScoreLow", f"upbit-binance-{s}", t0) for s in ("BTC", "ETH", "XRP")]
    push(am, group + [am_alert("ExchangeFrozen", "-", t0, sev="P0")])

    poll(lambda: len(stored(url)) == 4, "4 alerts stored")
    alerts = stored(url)
    assert {a["alertname"] for a in alerts} == {"RouteScoreLow", "ExchangeFrozen"}
    low = [a for a in alerts if a["alertname"] == "RouteScoreLow"]
    # one grouped notification carried the three RouteScoreLow alerts
    assert len({a["metadata"]["groupKey"] for a in low}) == 1 and "RouteScoreLow" in low[0]["metadata"]["groupKey"]
    assert all(
        a["status"] == "firing" and a["starts_at"] == t0.isoformat().replace("+00:00", ".000000Z") for a in alerts
    )
    assert all(len(a["fingerprint"]) == 16 for a in alerts)

    # resolve one of the group: same labels and startsAt, endsAt in the past
    t_end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    push(am, [am_alert("RouteScoreLow", "upbit-binance-BTC", t0, ends=t_end)])
    resolved = poll(lambda: stored(url, status="resolved"), "the resolve")
    assert [a["labels"]["route"] for a in resolved] == ["upbit-binance-BTC"]
    assert resolved[0]["ends_at"] == t_end.isoformat().replace("+00:00", ".000000Z")
    assert len(stored(url)) == 4  # the resolve updated the stored occurrence, nothing new
    assert {a["status"] for a in stored(url, status="firing")} == {"firing"} and len(stored(url, status="firing")) == 3


def test_storage_outage_then_retries_stored_once(
    tmp_path: Path,
    start_receiver: Callable[..., Receiver],
    alertmanager_factory: Callable[[Path], tuple[ManagedProcess, str]],
) -> None:
    # pytest's tmp_path is 0700 under root; the cluster runs as `postgres` and must reach its folder
    base = Path(tempfile.mkdtemp(prefix="d76-outage-"))
    base.chmod(0o755)
    cluster = PostgresCluster(base / "pg").init().start()
    try:
        _, url = start_receiver(cluster.url)
        _, am = alertmanager_factory(am_config(tmp_path, url))
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10)
        push(am, [am_alert("Before", "r1", t0)])
        poll(lambda: len(stored(url)) == 1, "the first alert")

        cluster.stop(mode="fast")
        poll(lambda: requests.get(f"{url}/readyz", timeout=5).status_code == 503, "readyz 503")
        r = requests.post(f"{url}/webhook/alertmanager", headers=HDR, timeout=10,
                          data=(paths.AM_FIXTURES / "firing-p0-single.json").read_bytes())
        assert r.status_code == 503 and r.headers["Retry-After"] and "storage unavailable" in r.json()["error"]
        assert requests.get(f"{url}/api/alerts", headers=HDR, timeout=10).status_code == 503

        # Alertmanager delivers these while the database is down; it gets 503 and retries.
        push(am, [am_alert("During", f"r{i}", t0) for i in range(5)])
        push(am, [am_alert("Before", "r1", t0, ends=datetime.now(UTC) - timedelta(seconds=1))])
        metrics_text = poll(
            lambda: (
                lambda t: (
                    t
                    if 'd76_receiver_storage_errors_total{operation="/webhook/alertmanager"}' in t
                    and _storage_errors(t) >= 3
                    else None
                )
            )(requests.get(f"{url}/metrics", timeout=5).text),
            "Alertmanager's failed deliveries",
        )
        assert _storage_errors(metrics_text) >= 3

        cluster.start()
        poll(lambda: requests.get(f"{url}/readyz", timeout=5).status_code == 200, "readyz after restart")
        poll(
            lambda: (
                len(stored(url, alertname="During")) == 5 and stored(url, alertname="Before")[0]["status"] == "resolved"
            ),
            "the retried deliveries",
        )
        alerts = stored(url)
        assert len(alerts) == 6
        keys = [(a["fingerprint"], a["starts_at"]) for a in alerts]
        assert len(set(keys)) == len(keys)  # exactly once
        import psycopg

        with psycopg.connect(cluster.url) as conn:
            n = conn.execute("SELECT count(*) FROM alerts").fetchone()
            dup = conn.execute("SELECT count(*) FROM (SELECT fingerprint, starts_at FROM alerts "
                               "GROUP BY 1, 2 HAVING count(*) > 1) d").fetchone()
        assert n == (6,) and dup == (0,)
    finally:
        cluster.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


def _storage_errors(text: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith('d76_receiver_storage_errors_total{operation="/webhook/alertmanager"}'):
            total += float(line.rsplit(" ", 1)[1])
    return total
