"""History reconciled with a real Alertmanager 0.25 (alerts posted to its API as Prometheus does,
silences created as an operator does, the catalog's FROZEN -> DOWN inhibition), on SQLite and
PostgreSQL: a silenced alert whose condition ends is resolved within a poll or two; an inhibited
DOWN and a muted exchange that fired three times appear with their cause; the timeline lists
every step in order."""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from local_stack.processes import free_port
from tests.support.history import AM, ServedApp, am_config, now, wait_for
from webhook_receiver.history.timeline import build_timeline
from webhook_receiver.store.episodes import HistoryTables

INTERVAL = 0.25
MISSING_POLLS = 2


@pytest.fixture
def stack(database_url: str, alertmanager_factory, make_app, tg, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Alertmanager -> receiver (served on loopback) -> fake Telegram, the reconciler polling fast."""
    from tests.conftest import telegram_env

    port = free_port()
    _, am_url = alertmanager_factory(am_config(tmp_path / "am.yml", f"http://127.0.0.1:{port}/webhook/alertmanager"))
    app = make_app(telegram_env(tg, DATABASE_URL=database_url, ALERTMANAGER_URL=am_url,
                                HISTORY_RECONCILE_INTERVAL_SECONDS=str(INTERVAL),
                                HISTORY_RECONCILE_MISSING_POLLS=str(MISSING_POLLS)))
    served = ServedApp(app, port)
    try:
        yield {"app": app, "am": AM(am_url), "store": app.extensions["d76_receiver"].store, "tg": tg,
               "client": app.test_client()}
    finally:
        served.close()


def _alert(store, alertname: str, exchange: str, status: str | None = None) -> dict | None:
    from webhook_receiver.store import AlertQuery

    rows = [r for r in store.list_alerts(AlertQuery(alertname=alertname, limit=50))
            if r["labels"].get("exchange") == exchange and (status is None or r["status"] == status)]
    return rows[0] if rows else None


def test_a_silenced_alert_whose_condition_ends_is_resolved_within_a_poll_or_two(stack) -> None:
    am, store, client, tg = stack["am"], stack["store"], stack["client"], stack["tg"]
    labels = AM.labels("ExchangeDown", "P1", exchange="upbit")
    start = now() - timedelta(seconds=5)
    am.fire(labels, start)
    # Alertmanager tells the receiver (webhook), which tells Telegram
    alert = wait_for(lambda: _alert(store, "ExchangeDown", "upbit"), 15, "the webhook stored the alert")
    tg.wait_messages(1)
    outbox = stack["app"].extensions["d76_receiver"].outbox
    wait_for(lambda: [d for d in outbox.deliveries(alert["id"]) if d["kind"] == "firing" and d["status"] == "sent"],
             10, "the firing notification recorded as sent")
    r = client.post(f"/api/alerts/{alert['id']}/ack", json={"by": "kim", "comment": "looking"})
    assert r.status_code == 200
    # an operator silences upbit in Alertmanager; the reconciler records the episode with its author
    sid = am.silence("park", "upbit maintenance window", exchange="upbit")
    tables = HistoryTables(store)
    [ep] = wait_for(lambda: tables.episodes_for([alert["id"]]).get(alert["id"]), 10, "the silenced episode")
    assert (ep["kind"], ep["cause"], ep["silence_created_by"], ep["silence_comment"]) == (
        "silenced", sid, "park", "upbit maintenance window")
    assert ep["ended_at"] is None and ep["silence_ends_at"] is not None
    time.sleep(3 * INTERVAL)  # silenced for a few polls
    # the exchange recovers: Prometheus sends endsAt=now; silenced, so Alertmanager sends no resolve
    am.end(labels, start)
    t0 = time.monotonic()
    done = wait_for(lambda: _alert(store, "ExchangeDown", "upbit", "resolved"), 10, "reconciled resolve")
    took = time.monotonic() - t0
    # (missing polls + 1) intervals, plus slack for a loaded machine
    assert took <= (MISSING_POLLS + 1) * INTERVAL + 2.0, took
    assert done["reconciled_at"] is not None and done["ends_at"] is not None
    assert start <= done["ends_at"] <= done["reconciled_at"]
    [ep] = tables.episodes_for([alert["id"]])[alert["id"]]
    assert ep["ended_at"] == done["ends_at"]  # the episode ended with its alert
    # the resolve is told like a webhook's would be: Telegram's message edited / a resolved row sent
    wait_for(lambda: [d for d in outbox.deliveries(alert["id"]) if d["kind"] == "resolved" and d["status"] == "sent"],
             10, "the resolved notification")

    # the timeline: every step, in order, with durations
    r = client.get(f"/api/alerts/{alert['id']}/timeline")
    assert r.status_code == 200
    body = r.get_json()
    kinds = [e["event"] for e in body["events"]]
    assert kinds[:2] == ["fired", "stored"], kinds
    order = [kinds.index(k) for k in ("fired", "stored", "notified", "acknowledged", "silenced", "resolved")]
    assert order == sorted(order), kinds
    assert [e["at"] for e in body["events"]] == sorted(e["at"] for e in body["events"])
    first = next(e for e in body["events"] if e["event"] == "notified" and e["kind"] == "firing")
    assert first["channel"] == "telegram" and first["message_id"] and first["shape"] == "single"
    ack = next(e for e in body["events"] if e["event"] == "acknowledged")
    assert (ack["by"], ack["comment"]) == ("kim", "looking")
    sil = next(e for e in body["events"] if e["event"] == "silenced")
    assert (sil["by"], sil["silence_id"], sil["comment"]) == ("park", sid, "upbit maintenance window")
    res = body["events"][-1] if body["events"][-1]["event"] == "resolved" else \
        next(e for e in body["events"] if e["event"] == "resolved")
    assert res["reconciled"] is True
    d = body["durations"]
    assert 0 < d["time_to_notify_seconds"] < 60 and d["time_to_acknowledge_seconds"] > 0
    assert d["time_to_resolve_seconds"] >= 5 and d["suppressed_seconds"] > 0
    assert build_timeline(store, alert["id"])["durations"] == d


def test_inhibited_down_and_a_muted_exchange_that_fired_three_times(stack) -> None:
    am, store = stack["am"], stack["store"]
    tables = HistoryTables(store)
    # upbit: DOWN told first, then FROZEN inhibits it
    down = AM.labels("ExchangeDown", "P1", exchange="upbit")
    frozen = AM.labels("ExchangeFrozen", "P0", exchange="upbit")
    t = now() - timedelta(seconds=30)
    am.fire(down, t)
    down_row = wait_for(lambda: _alert(store, "ExchangeDown", "upbit"), 15, "DOWN stored")
    am.fire(frozen, t + timedelta(seconds=10))
    frozen_row = wait_for(lambda: _alert(store, "ExchangeFrozen", "upbit"), 15, "FROZEN stored")
    [ep] = wait_for(lambda: tables.episodes_for([down_row["id"]]).get(down_row["id"]), 10, "inhibited episode")
    assert (ep["kind"], ep["inhibiting_alertname"], ep["inhibiting_alert_id"]) == (
        "inhibited", "ExchangeFrozen", frozen_row["id"])
    assert ep["inhibiting_labels"]["exchange"] == "upbit"
    # bithumb: FROZEN first, so DOWN is inhibited from the start and never sent to the receiver
    am.fire(AM.labels("ExchangeFrozen", "P0", exchange="bithumb"), t)
    bf = wait_for(lambda: _alert(store, "ExchangeFrozen", "bithumb"), 15, "bithumb FROZEN stored")
    bdown = AM.labels("ExchangeDown", "P1", exchange="bithumb")
    am.fire(bdown, t + timedelta(seconds=1))
    row = wait_for(lambda: _alert(store, "ExchangeDown", "bithumb"), 10, "the never-sent DOWN stored from the poll")
    assert row["origin"] == "alertmanager" and row["receive_count"] == 0 and row["status"] == "firing"
    [ep] = wait_for(lambda: tables.episodes_for([row["id"]]).get(row["id"]), 10, "its episode")
    assert (ep["kind"], ep["inhibiting_alert_id"]) == ("inhibited", bf["id"])

    # okx muted before anything fired; its rate-limit alert fires three times
    sid = am.silence("lee", "okx API migration", exchange="okx")
    ids = []
    for i in range(3):
        labels = AM.labels("RateLimitHttp429", "P1", exchange="okx")
        start = now()  # after the previous occurrence ended (an overlap would be merged into it)
        am.fire(labels, start)
        got = wait_for(lambda: [r for r in _rows(store, "RateLimitHttp429") if r["id"] not in ids
                                and r["status"] == "firing"], 10, f"okx occurrence {i + 1} stored")
        ids.append(got[0]["id"])
        wait_for(lambda: tables.episodes_for([ids[-1]]).get(ids[-1]), 10, "its silenced episode")
        am.end(labels, start)
        wait_for(lambda: store.get_alert(ids[-1])["status"] == "resolved", 10, "occurrence resolved")
    eps = tables.episodes_for(ids)
    assert len(ids) == 3 and all(len(eps[i]) == 1 for i in ids)
    assert {(e[0]["cause"], e[0]["silence_created_by"], e[0]["silence_comment"]) for e in eps.values()} == {
        (sid, "lee", "okx API migration")}
    for i in ids:
        a = store.get_alert(i)
        assert a["origin"] == "alertmanager" and a["reconciled_at"] is not None
        # never told, so nothing was queued for it (no "resolved" message about an alert nobody saw)
        assert stack["app"].extensions["d76_receiver"].outbox.deliveries(i) == []
    # the review's export shows both causes
    csv_text = stack["client"].get("/api/alerts.csv?alertname=ExchangeDown").get_data(as_text=True)
    assert "inhibited by ExchangeFrozen" in csv_text
    csv_text = stack["client"].get("/api/alerts.csv?alertname=RateLimitHttp429").get_data(as_text=True)
    assert csv_text.count("silenced by lee (okx API migration)") == 3


def _rows(store, alertname: str) -> list[dict]:
    from webhook_receiver.store import AlertQuery

    return store.list_alerts(AlertQuery(alertname=alertname, limit=50))


def test_an_alert_silenced_from_the_start_is_told_once_its_silence_ends(stack) -> None:
    """Stored from the poll while silenced (Alertmanager's millisecond startsAt); when the silence is
    expired Alertmanager sends its webhook (nanoseconds): the same row, told for the first time."""
    import requests

    am, store, tg = stack["am"], stack["store"], stack["tg"]
    sid = am.silence("kim", "kraken maintenance", exchange="kraken")
    labels = AM.labels("ExchangeDown", "P1", exchange="kraken")
    start = now() - timedelta(seconds=2)
    assert start.microsecond % 1000  # a start the API shows to the millisecond only
    am.fire(labels, start)
    row = wait_for(lambda: _alert(store, "ExchangeDown", "kraken"), 10, "stored from the poll")
    assert row["origin"] == "alertmanager" and row["receive_count"] == 0
    assert row["starts_at"] == start.replace(microsecond=start.microsecond - start.microsecond % 1000)
    assert tg.method_calls("sendMessage") == []
    assert requests.delete(f"{am.url}/api/v2/silence/{sid}", timeout=5).status_code == 200
    told = wait_for(lambda: (a := store.get_alert(row["id"])) and a["receive_count"] >= 1 and a, 15,
                    "the webhook after the silence ended")
    assert told["status"] == "firing" and len(_rows(store, "ExchangeDown")) == 1  # the same row, not a second one
    [msg] = tg.wait_messages(1)
    assert "kraken" in msg.visible_text
    outbox = stack["app"].extensions["d76_receiver"].outbox
    assert [d["kind"] for d in outbox.deliveries(row["id"])] == ["firing"]
    [ep] = wait_for(lambda: [e for e in HistoryTables(store).episodes_for([row["id"]])[row["id"]] if e["ended_at"]],
                    10, "the silenced episode ended")
    assert ep["cause"] == sid and ep["silence_created_by"] == "kim"
