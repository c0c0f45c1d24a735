"""History by activity, on SQLite and PostgreSQL: "recent", the stats and the digest count an alert when
it was active in the window (started before its end, not ended before its start), `by_status.firing` is
what fires now, and `GET /api/stats` without a window covers everything stored. Through a live `d76
receiver`, with Alertmanager's own recorded bodies (startsAt days back) and a seeded history."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from tests.support.fakes.payloads import am_alert, am_payload
from tests.support.history import iso
from webhook_receiver.client import HistoryClient
from webhook_receiver.notify.channels.email import render_html, render_text
from webhook_receiver.notify.digest import collect_digest
from webhook_receiver.payload import parse_alertmanager_payload
from webhook_receiver.store import AlertStore, open_store
from webhook_receiver.store.base import AlertQuery

TOKEN = "activity-test-token"
H = timedelta(hours=1)


def seed(store: AlertStore, now: datetime) -> dict[str, int]:
    """Five alerts around the last hour: (alertname, start, end or None while firing)."""
    rows = {
        "StartedTwoHoursAgoStillFiring": (now - 2 * H, None),
        "EndedBeforeTheHour": (now - 3 * H, now - 1.5 * H),
        "StartedAndEndedInTheHour": (now - 0.5 * H, now - 10 * timedelta(minutes=1)),
        "FiringForTwoDays": (now - 48 * H, None),
        "LongGone": (now - 120 * H, now - 96 * H),
    }
    ids = {}
    for name, (start, end) in rows.items():
        a = am_alert(name, "P1", starts_at=iso(start), labels={"exchange": name.lower()},
                     status="firing" if end is None else "resolved", ends_at=iso(end) if end else None)
        ids[name] = store.ingest(parse_alertmanager_payload(am_payload(a))).changes[0].alert_id
    return ids


def names(rows: list[dict]) -> set[str]:
    return {r["alertname"] for r in rows}


def test_store_lists_and_counts_by_activity(store: AlertStore) -> None:
    now = datetime.now(UTC)
    seed(store, now)
    hour = AlertQuery(since=now - H, active=True)
    assert names(store.list_alerts(hour)) == {"StartedTwoHoursAgoStillFiring", "StartedAndEndedInTheHour",
                                              "FiringForTwoDays"}
    # by start (the filter /api/alerts keeps without active=true): only what started in the hour
    assert names(store.list_alerts(AlertQuery(since=now - H))) == {"StartedAndEndedInTheHour"}
    # a window in the past: active then, whatever happened since
    past = AlertQuery(since=now - 4 * H, until=now - 2.5 * H, active=True)
    assert names(store.list_alerts(past)) == {"EndedBeforeTheHour", "FiringForTwoDays"}
    # paging by cursor through an activity window loses nothing
    pages = list(store.iter_alert_pages(AlertQuery(since=now - H, active=True, limit=1), 10, page=1))
    assert [len(p) for p in pages] == [1, 1, 1] and names([r for p in pages for r in p]) == names(
        store.list_alerts(hour))

    s = store.stats(now - H, None)
    assert s["total"] == 3 and s["by_status"] == {"firing": 2, "resolved": 1}  # firing: what fires now
    assert store.stats()["total"] == 5  # no window: everything stored
    assert names(store.list_alerts(AlertQuery(until=now - 72 * H, active=True))) == {"LongGone"}
    assert store.stats(None, now - 72 * H)["total"] == 1  # only LongGone had started three days ago
    assert store.stats(now - 200 * H, now - 150 * H)["total"] == 0

    digest = collect_digest(store, now - 24 * H, now)
    p1 = next(line for line in digest.summary if line.severity == "P1")
    assert p1.alerts == 4 and p1.open == 2  # the one firing for two days is in today's digest
    assert digest.csv_rows == 4
    assert digest.capped_at is None and "more than" not in render_text(digest)
    # a window holding more than the digest takes: the newest are counted and attached, and it says so
    capped = collect_digest(store, now - 24 * H, now, limit=3)
    assert capped.capped_at == 3 and capped.csv_rows == 3 and sum(x.alerts for x in capped.summary) == 3
    assert "held more than 3 alerts" in render_text(capped) and "held more than 3 alerts" in render_html(capped)


def test_live_receiver_recent_and_stats_by_activity(database_url: str, receiver_process,
                                                    am_fixtures_dir: Path) -> None:
    store = open_store(database_url)
    store.migrate()
    try:
        ids = seed(store, datetime.now(UTC))
    finally:
        store.close()
    _, url = receiver_process({"DATABASE_URL": database_url, "RECEIVER_TOKEN": TOKEN,
                               "NOTIFICATIONS_ENABLED": "false"})
    auth = {"Authorization": f"Bearer {TOKEN}"}
    # Alertmanager 0.25's own recorded bodies: startsAt 2026-11-23, days before now
    for name in ("firing-p0-single.json", "resolved-p0.json", "firing-p2-group-of-two.json"):
        r = requests.post(f"{url}/webhook/alertmanager", data=(am_fixtures_dir / name).read_bytes(),
                          headers={**auth, "Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 200, r.text

    h = HistoryClient(url, token=TOKEN)
    recent = h.get_recent_alerts(minutes=60)
    assert ids["StartedTwoHoursAgoStillFiring"] in {a["id"] for a in recent}
    assert names(recent) == {"StartedTwoHoursAgoStillFiring", "StartedAndEndedInTheHour", "FiringForTwoDays",
                             "RouteScoreLow"}  # the recorded P2s still fire
    everything = requests.get(f"{url}/api/stats", headers=auth, timeout=10).json()
    assert everything["since"] is None and everything["until"] is None
    assert everything["total"] == 8 and everything["by_status"] == {"firing": 4, "resolved": 4}
    hour = h.get_alert_stats(hours=1)
    assert hour["by_status"]["firing"] == 4 and hour["total"] == 5
    assert hour["by_severity"] == {"P1": 3, "P2": 2}
    r = requests.get(f"{url}/api/alerts", params={"since": iso(datetime.now(UTC) - H), "active": "maybe"},
                     headers=auth, timeout=10)
    assert r.status_code == 400 and r.json()["param"] == "active"
    csv = requests.get(f"{url}/api/alerts.csv", params={"since": iso(datetime.now(UTC) - H), "active": "true"},
                       headers=auth, timeout=10)
    assert csv.status_code == 200 and "StartedTwoHoursAgoStillFiring" in csv.text
    spec = requests.get(f"{url}/openapi.json", timeout=10).json()
    params = {p["name"] for p in spec["paths"]["/api/alerts"]["get"]["parameters"]}
    assert "active" in params and json.dumps(spec["paths"]["/api/stats"]).count("everything stored") == 1
