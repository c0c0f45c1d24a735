"""The receiver's store and HTTP API, the same suite on SQLite and on a real PostgreSQL 15."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webhook_receiver.app import create_app
from webhook_receiver.notify.outbox import Outbox
from webhook_receiver.payload import WebhookPayload
from webhook_receiver.settings import load_settings
from webhook_receiver.store import AlertChange, AlertStore, Transaction

TOKEN = "s3cret-receiver-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(load_settings({"DATABASE_URL": database_url, "RECEIVER_TOKEN": TOKEN,
                                    "RECEIVER_MAX_BODY_BYTES": "65536", "RECEIVER_API_MAX_LIMIT": "500",
                                    # this suite is about the store and API; notifications have their own
                                    "NOTIFICATIONS_ENABLED": "false"}))
    yield app
    app.extensions["d76_receiver"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def store(app: Flask) -> AlertStore:
    return app.extensions["d76_receiver"].store


def body(am_fixtures_dir: Path, name: str) -> bytes:
    return (am_fixtures_dir / name).read_bytes()


def make_payload(alerts: list[dict[str, Any]], status: str = "firing") -> bytes:
    return json.dumps({"version": "4", "status": status, "receiver": "wh", "groupKey": "{}:{x}",
                       "externalURL": "http://127.0.0.1:9093", "truncatedAlerts": 0, "groupLabels": {},
                       "commonLabels": {}, "commonAnnotations": {}, "alerts": alerts}).encode()


def make_alert(i: int, severity: str = "P2", status: str = "firing", starts: datetime | None = None,
               source: str = "arb_route", summary: str = "s") -> dict[str, Any]:
    starts = starts or datetime(2026, 11, 23, 0, 0, tzinfo=UTC) + timedelta(minutes=i)
    ends = (starts + timedelta(minutes=3)) if status == "resolved" else datetime(1, 1, 1, tzinfo=UTC)
    return {"status": status, "labels": {"alertname": f"A{i % 3}", "severity": severity, "source": source,
                                         "route": f"r{i}"},
            "annotations": {"summary": summary, "description": f"value {i}"},
            "startsAt": starts.isoformat().replace("+00:00", "Z"),
            "endsAt": ends.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph", "fingerprint": f"fp{i:06d}"}


def post(client: FlaskClient, data: bytes, headers: dict[str, str] | None = None) -> Any:
    return client.post("/webhook/alertmanager", data=data, headers=AUTH if headers is None else headers,
                       content_type="application/json")


# ---- ingest semantics ----

def test_fixture_bodies_are_stored(client: FlaskClient, store: AlertStore, am_fixtures_dir: Path) -> None:
    r = post(client, body(am_fixtures_dir, "firing-p2-group-of-two.json"))
    assert r.status_code == 200 and r.json["changes"] == {"new": 2}
    assert store.count("alerts") == 2 and store.count("webhook_payloads") == 1
    raw = store.list_payloads()[0]
    assert json.loads(raw["body"]) == json.loads(body(am_fixtures_dir, "firing-p2-group-of-two.json"))
    assert raw["alert_count"] == 2 and raw["status"] == "firing"


def test_same_payload_ten_times_is_one_alert(client: FlaskClient, store: AlertStore, am_fixtures_dir: Path) -> None:
    data = body(am_fixtures_dir, "firing-p0-single.json")
    for _ in range(10):
        assert post(client, data).status_code == 200
    [a] = client.get("/api/alerts", headers=AUTH).json["alerts"]
    assert a["receive_count"] == 10 and a["status"] == "firing"
    assert store.count("alerts") == 1
    assert store.count("webhook_payloads") == 10  # every delivery kept raw for audit


def test_resolve_then_late_firing_does_not_reopen(client: FlaskClient, am_fixtures_dir: Path) -> None:
    assert post(client, body(am_fixtures_dir, "resolved-p0.json")).json["changes"] == {"new": 1}
    assert post(client, body(am_fixtures_dir, "firing-p0-single.json")).json["changes"] == {"unchanged": 1}
    [a] = client.get("/api/alerts", headers=AUTH).json["alerts"]
    assert a["status"] == "resolved" and a["ends_at"] == "2026-11-23T01:09:12.515000Z"
    assert a["receive_count"] == 2


def test_firing_then_resolved_sets_end(client: FlaskClient, am_fixtures_dir: Path) -> None:
    post(client, body(am_fixtures_dir, "firing-p0-single.json"))
    assert post(client, body(am_fixtures_dir, "resolved-p0.json")).json["changes"] == {"resolved": 1}
    [a] = client.get("/api/alerts", headers=AUTH).json["alerts"]
    assert (a["status"], a["ends_at"]) == ("resolved", "2026-11-23T01:09:12.515000Z")
    assert a["title"] == "Exchange upbit is FROZEN" and a["severity"] == "P0" and a["source"] == "exchange_health"
    assert a["metadata"]["generatorURL"].startswith("http://127.0.0.1:9090/graph")
    assert a["labels"]["exchange"] == "upbit"


def test_new_occurrence_after_resolve_is_a_new_row(client: FlaskClient) -> None:
    t0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    post(client, make_payload([make_alert(1, status="resolved", starts=t0)], "resolved"))
    post(client, make_payload([make_alert(1, starts=t0 + timedelta(hours=1))]))
    alerts = client.get("/api/alerts", headers=AUTH).json["alerts"]
    assert [a["status"] for a in alerts] == ["firing", "resolved"]
    assert len({a["fingerprint"] for a in alerts}) == 1


def test_annotation_refresh_and_ha_duplicate_in_one_payload(client: FlaskClient) -> None:
    post(client, make_payload([make_alert(1, summary="old")]))
    r = post(client, make_payload([make_alert(1, summary="new"), make_alert(1, summary="new")]))
    assert r.json["changes"] == {"updated": 1}
    [a] = client.get("/api/alerts", headers=AUTH).json["alerts"]
    assert a["title"] == "new" and a["receive_count"] == 2


def test_concurrent_duplicates_store_once(app: Flask, store: AlertStore) -> None:
    data = make_payload([make_alert(i) for i in range(20)])
    errors: list[int] = []

    def worker() -> None:
        c = app.test_client()
        for _ in range(5):
            r = post(c, data)
            if r.status_code != 200:
                errors.append(r.status_code)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert store.count("alerts") == 20
    assert {
        a["receive_count"]
        for a in store.list_alerts(__import__("webhook_receiver.store", fromlist=["AlertQuery"]).AlertQuery(limit=50))
    } == {20}


# ---- bad input ----

@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"{oops", "not valid JSON"),
        (b'{"version": "2", "status": "firing", "alerts": []}', "version"),
        (b'{"version": "4", "status": "firing"}', "alerts"),
        (b'{"version": "4", "status": "firing", "alerts": [{"status": "firing"}]}', "alerts[0]"),
        (b'{"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": ["x"]}, '
         b'"startsAt": "2026-11-23T01:00:00Z", "fingerprint": "f"}]}', "alerts[0].labels.alertname"),
    ],
)
def test_malformed_payload_is_400_and_stores_nothing(
    client: FlaskClient, store: AlertStore, data: bytes, fragment: str
) -> None:
    r = post(client, data)
    assert r.status_code == 400 and fragment in r.json["error"]
    assert store.count("webhook_payloads") == 0


def test_huge_body_is_413(client: FlaskClient, store: AlertStore) -> None:
    big = make_payload([make_alert(i, summary="x" * 1000) for i in range(100)])
    assert len(big) > 65536
    r = post(client, big)
    assert r.status_code == 413 and "larger than 65536" in r.json["error"]
    assert store.count("webhook_payloads") == 0


def test_auth(client: FlaskClient, am_fixtures_dir: Path) -> None:
    data = body(am_fixtures_dir, "firing-p0-single.json")
    assert post(client, data, headers={}).status_code == 401
    r = post(client, data, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and TOKEN not in r.get_data(as_text=True)
    assert post(client, data, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    for path in ("/api/alerts", "/api/alerts/1", "/api/stats"):
        assert client.get(path).status_code == 401
    assert client.post("/api/alerts/1/ack", json={"by": "x"}).status_code == 401
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200


# ---- query API ----

@pytest.fixture
def seeded(client: FlaskClient) -> list[dict[str, Any]]:
    sev = ["P0", "P1", "P2", "P3"]
    alerts = [make_alert(i, severity=sev[i % 4], status="resolved" if i % 5 == 0 else "firing",
                         source="risk_guard" if i % 2 else "arb_route") for i in range(40)]
    for i in range(0, 40, 10):
        assert post(client, make_payload(alerts[i:i + 10])).status_code == 200
    return alerts


def test_filters(client: FlaskClient, seeded: list[dict[str, Any]]) -> None:
    def ids(qs: str) -> list[str]:
        r = client.get(f"/api/alerts?{qs}", headers=AUTH)
        assert r.status_code == 200, r.json
        return [a["fingerprint"] for a in r.json["alerts"]]

    everything = ids("limit=500")
    assert len(everything) == 40 and everything[0] == "fp000039"  # newest first
    assert len(ids("severity=P0")) == 10
    assert len(ids("severity=P0&severity=P1")) == 20 == len(ids("severity=P0,P1"))
    assert len(ids("source=risk_guard")) == 20
    assert len(ids("status=resolved")) == 8
    assert ids("since=2026-11-23T00:10:00Z&until=2026-11-23T00:12:00Z") == ["fp000011", "fp000010"]
    assert ids("acknowledged=true") == []
    assert len(ids("acknowledged=false&severity=P3&status=firing&source=risk_guard")) == 10 - 2


def test_paging_with_cursor(client: FlaskClient, seeded: list[dict[str, Any]]) -> None:
    seen: list[str] = []
    url = "/api/alerts?limit=7&severity=P1,P2"
    cursor = None
    while True:
        r = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=AUTH).json
        seen += [a["fingerprint"] for a in r["alerts"]]
        cursor = r["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 20 and len(set(seen)) == 20 and seen == sorted(seen, reverse=True)


@pytest.mark.parametrize(
    "qs, param",
    [("since=yesterday", "since"), ("until=2026-13-01T00:00:00Z", "until"), ("severity=P7", "severity"),
     ("status=open", "status"), ("acknowledged=maybe", "acknowledged"), ("limit=0", "limit"),
     ("limit=501", "limit"), ("limit=ten", "limit"), ("cursor=!!!", "cursor"), ("colour=red", "colour"),
     ("since=2026-11-24T00:00:00Z&until=2026-11-23T00:00:00Z", "until")],
)
def test_bad_query_parameters_are_named(client: FlaskClient, qs: str, param: str) -> None:
    r = client.get(f"/api/alerts?{qs}", headers=AUTH)
    assert r.status_code == 400 and r.json["param"] == param and param in r.json["error"]


def test_get_ack_and_stats(client: FlaskClient, store: AlertStore, am_fixtures_dir: Path) -> None:
    post(client, body(am_fixtures_dir, "firing-p0-single.json"))
    [a] = client.get("/api/alerts", headers=AUTH).json["alerts"]
    one = client.get(f"/api/alerts/{a['id']}", headers=AUTH).json["alert"]
    assert one["fingerprint"] == "799840b667ae99f5" and one["deliveries"] == []
    assert client.get("/api/alerts/999999", headers=AUTH).status_code == 404
    r = client.get("/api/alerts/abc", headers=AUTH)
    assert r.status_code == 400 and r.json["param"] == "id"

    at = datetime(2026, 11, 23, 1, 10, 9, 367000, tzinfo=UTC)  # 60 s after start
    assert store.ack_alert(a["id"], "kim", "on it", at=at) is True
    r = client.post(f"/api/alerts/{a['id']}/ack", json={"by": "lee", "comment": "me too"}, headers=AUTH)
    assert r.status_code == 200 and r.json["changed"] is False
    assert r.json["alert"]["acknowledged_by"] == "kim" and r.json["alert"]["ack_comment"] == "on it"
    assert client.post("/api/alerts/999999/ack", json={"by": "x"}, headers=AUTH).status_code == 404
    r = client.post(f"/api/alerts/{a['id']}/ack", data=b"[1]", headers=AUTH, content_type="application/json")
    assert r.status_code == 400 and r.json["param"] == "body"
    r = client.post(f"/api/alerts/{a['id']}/ack", json={"by": 5}, headers=AUTH)
    assert r.status_code == 400 and r.json["param"] == "by"

    post(client, body(am_fixtures_dir, "resolved-p0.json"))
    post(client, body(am_fixtures_dir, "firing-p2-group-of-two.json"))
    s = client.get("/api/stats?since=2026-11-23T00:00:00Z&until=2026-11-24T00:00:00Z", headers=AUTH).json
    assert s["by_severity"] == {"P0": 1, "P2": 2}
    assert s["by_source"] == {"exchange_health": 1, "arb_route": 2}
    assert s["by_status"] == {"resolved": 1, "firing": 2}
    assert s["total"] == 3 and s["acknowledged"] == 1
    assert s["mean_time_to_acknowledge_seconds"] == pytest.approx(60.0, abs=0.01)
    assert s["mean_time_to_resolve_seconds"] == pytest.approx(3.148, abs=0.01)
    assert client.get("/api/stats?window=1h", headers=AUTH).json["param"] == "window"


def test_metrics_and_readiness(client: FlaskClient, am_fixtures_dir: Path) -> None:
    post(client, body(am_fixtures_dir, "firing-p2-group-of-two.json"))
    post(client, b"{bad")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'd76_receiver_alerts_stored_total{severity="P2"} 2.0' in text
    assert 'd76_receiver_requests_total{endpoint="/webhook/alertmanager",method="POST",status="400"} 1.0' in text
    assert "d76_receiver_ingest_duration_seconds_count 1.0" in text
    assert client.get("/readyz").json["status"] == "ready"


# ---- the ingest hook (the notification outbox is written in the same transaction) ----

def test_planner_runs_in_the_ingest_transaction(
    app: Flask, client: FlaskClient, store: AlertStore, am_fixtures_dir: Path
) -> None:
    seen: list[list[AlertChange]] = []

    def planner(tx: Transaction, changes: list[AlertChange], payload: WebhookPayload) -> None:
        seen.append(changes)
        rows = [
            {
                "alert_id": c.alert_id,
                "channel": "telegram",
                "kind": "firing" if c.status == "firing" else "resolved",
                "severity": c.severity,
                "payload": {"n": 1},
                "dedupe_key": f"{c.alert_id}:telegram:{c.kind}",
            }
            for c in changes
            if c.kind in ("new", "resolved")
        ]
        Outbox(store).enqueue(tx, rows)

    state = app.extensions["d76_receiver"]
    state.ingest_hook = planner
    post(client, body(am_fixtures_dir, "firing-p0-single.json"))
    post(client, body(am_fixtures_dir, "firing-p0-single.json"))
    post(client, body(am_fixtures_dir, "resolved-p0.json"))
    assert [[c.kind for c in ch] for ch in seen] == [["new"], ["unchanged"], ["resolved"]]
    [a] = client.get("/api/alerts", headers=AUTH).json["alerts"]
    deliveries = client.get(f"/api/alerts/{a['id']}", headers=AUTH).json["alert"]["deliveries"]
    assert [(d["kind"], d["status"], d["channel"]) for d in deliveries] == [("firing", "pending", "telegram"),
                                                                           ("resolved", "pending", "telegram")]

    def failing(tx: Transaction, changes: list[AlertChange], payload: WebhookPayload) -> None:
        Outbox(store).enqueue(tx, [{"alert_id": changes[0].alert_id, "channel": "slack", "kind": "firing",
                                    "dedupe_key": "x"}])
        raise RuntimeError("planner bug")

    state.ingest_hook = failing
    before = store.count("webhook_payloads")
    r = post(client, body(am_fixtures_dir, "firing-p2-group-of-two.json"))
    assert r.status_code == 500 and r.json == {"error": "internal error"}
    # rolled back together: no payload, no alert, no notification
    assert (
        store.count("webhook_payloads") == before and store.count("alerts") == 1 and store.count("notifications") == 2
    )


def test_set_silence_and_migrations_idempotent(store: AlertStore, client: FlaskClient, am_fixtures_dir: Path) -> None:
    post(client, body(am_fixtures_dir, "firing-p0-single.json"))
    until = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    assert store.set_silence(1, "sil-123", until) is True
    assert store.set_silence(999, "sil-123", until) is False
    a = store.get_alert(1)
    assert a is not None and a["silence_id"] == "sil-123" and a["silenced_until"] == until
    assert store.migrate() == [] and store.current_version() == store.latest_version()
