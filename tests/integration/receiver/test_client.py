"""The Python client against a live receiver (`d76 receiver` process) on SQLite and PostgreSQL;
export round trips (CLI csv = CLI json = API csv); `d76 history --id N` prints the timeline; the
daily digest carries the day's history as CSV (through the local SMTP server)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path

import pytest
from click.testing import CliRunner

from local_stack.processes import free_port
from tests.support.fakes import SMTPServer
from tests.support.fakes.payloads import am_alert, am_payload
from tests.support.history import iso
from webhook_receiver.client import HistoryClient, HistoryClientError
from webhook_receiver.history.export import read_csv
from webhook_receiver.payload import parse_alertmanager_payload
from webhook_receiver.store import open_store
from webhook_receiver.store.episodes import EpisodeCause, HistoryTables

TOKEN = "client-test-token"


class AlertSeverity(Enum):  # the seed's own enum, as the bot's code would pass it
    P0 = "P0"
    P1 = "P1"


@pytest.fixture
def receiver(database_url: str, receiver_process) -> str:
    _, url = receiver_process({"DATABASE_URL": database_url, "RECEIVER_TOKEN": TOKEN,
                               "NOTIFICATIONS_ENABLED": "false"}, threads=4)
    return url


def seed(database_url: str) -> dict[str, int]:
    """Today's history: a P0 acked and resolved, a P1 silenced, a P3 open; an old P2."""
    store = open_store(database_url)
    store.migrate()
    now = datetime.now(UTC)
    rows = [
        am_alert("ExchangeFrozen", "P0", starts_at=iso(now - timedelta(minutes=30)), labels={"exchange": "upbit"},
                 status="resolved", ends_at=iso(now - timedelta(minutes=10))),
        am_alert("RateLimitHttp429", "P1", starts_at=iso(now - timedelta(minutes=20)), source="rate_limiter",
                 labels={"exchange": "okx"}, annotations={"summary": "=cmd|' /C calc'!A0"}),
        am_alert("DiskFreeLowEarly", "P3", starts_at=iso(now - timedelta(minutes=5)), source="system"),
        am_alert("RouteScoreLow", "P2", starts_at=iso(now - timedelta(days=3)), source="arb_route"),
    ]
    ids = {}
    try:
        for a in rows:
            ids[a["labels"]["alertname"]] = store.ingest(parse_alertmanager_payload(am_payload(a))).changes[0].alert_id
        store.ack_alert(ids["ExchangeFrozen"], "kim", "failing over", at=now - timedelta(minutes=28))
        with store.transaction() as tx:
            tx.now = now - timedelta(minutes=19)
            HistoryTables(store).open_episode(tx, ids["RateLimitHttp429"], EpisodeCause(
                "silenced", "sil-1", silence_created_by="lee", silence_comment="okx migration"))
    finally:
        store.close()
    return ids


def test_client_against_a_live_receiver(receiver: str, database_url: str) -> None:
    ids = seed(database_url)
    h = HistoryClient(receiver, token=TOKEN)
    assert TOKEN not in repr(h)
    # by start: the three of today; "recent" is by activity: the P2 that started three days ago still fires
    started = h.iter_alerts(since=datetime.now(UTC) - timedelta(minutes=60))
    assert {a["alertname"] for a in started} == {"ExchangeFrozen", "RateLimitHttp429", "DiskFreeLowEarly"}
    recent = h.get_recent_alerts(minutes=60)
    assert {a["alertname"] for a in recent} == {"ExchangeFrozen", "RateLimitHttp429", "DiskFreeLowEarly",
                                                "RouteScoreLow"}
    [p0] = h.get_recent_alerts(minutes=60, severity=AlertSeverity.P0)
    assert p0["id"] == ids["ExchangeFrozen"] and p0["acknowledged_by"] == "kim"
    assert [a["alertname"] for a in h.get_recent_alerts(minutes=60 * 24 * 7, severity=["P1", "P2"])] == [
        "RateLimitHttp429", "RouteScoreLow"]
    assert len(h.get_recent_alerts(minutes=60, limit=2)) == 2
    stats = h.get_alert_stats(since=datetime.now(UTC) - timedelta(hours=24))  # active today: the old P2 too
    assert stats["total"] == 4 and stats["by_severity"] == {"P0": 1, "P1": 1, "P2": 1, "P3": 1}
    assert stats["by_status"] == {"firing": 3, "resolved": 1}
    assert stats["mean_time_to_acknowledge_seconds"] == pytest.approx(120, abs=1)
    assert h.get_alert_stats() == stats | {"since": None, "until": None}  # no window: everything stored
    last_15 = h.get_alert_stats(hours=0.25)  # the P0 ended 10 minutes ago: active in the last 15
    assert last_15["total"] == 4 and last_15["by_status"]["firing"] == 3
    assert h.get_alert_stats(hours=0.1)["by_severity"] == {"P1": 1, "P2": 1, "P3": 1}
    out = h.ack(ids["RateLimitHttp429"], by="park", comment="muted for the migration")
    assert out["changed"] is True and out["alert"]["acknowledged_by"] == "park"
    assert h.ack(ids["RateLimitHttp429"], by="lee")["changed"] is False  # the first acknowledgement wins
    t = h.timeline(ids["RateLimitHttp429"])
    # seeded after the fact: "stored" is now, after the silence recorded 19 minutes ago
    assert [e["event"] for e in t["events"]] == ["fired", "silenced", "stored", "acknowledged"]
    assert [e["at"] for e in t["events"]] == sorted(e["at"] for e in t["events"])
    assert t["events"][1]["by"] == "lee" and t["durations"]["time_to_acknowledge_seconds"] > 0
    typed = HistoryClient(receiver, token=TOKEN, parse_times=True).get_alert(ids["ExchangeFrozen"])
    assert isinstance(typed["starts_at"], datetime) and typed["starts_at"].tzinfo is not None
    assert read_csv(h.export_csv(severity="P0"))[0]["id"] == ids["ExchangeFrozen"]
    with pytest.raises(HistoryClientError) as err:
        h.timeline(10**9)
    assert err.value.status == 404
    with pytest.raises(HistoryClientError) as err:
        HistoryClient(receiver, token="wrong").get_alert_stats()
    assert err.value.status == 401
    with pytest.raises(HistoryClientError, match="not reachable"):
        HistoryClient(f"http://127.0.0.1:{free_port()}", timeout=1).get_alert_stats()
    with pytest.raises(ValueError):
        h.get_recent_alerts(severity="P9")


def test_export_round_trips_between_cli_and_api(database_url: str, make_app, tmp_path: Path) -> None:
    from d76_cli.main import cli

    ids = seed(database_url)
    env = {"DATABASE_URL": database_url}
    run = CliRunner().invoke
    r_csv = run(cli, ["history", "--format", "csv", "--since", "7d", "-o", str(tmp_path / "h.csv")], env=env)
    r_json = run(cli, ["history", "--format", "json", "--since", "7d"], env=env)
    assert r_csv.exit_code == 0 and r_json.exit_code == 0, (r_csv.output, r_json.output)
    import json

    from_csv = read_csv((tmp_path / "h.csv").read_text(encoding="utf-8"))
    from_json = json.loads(r_json.output)
    assert from_csv == from_json and len(from_csv) == 4
    app = make_app({"DATABASE_URL": database_url})
    api = app.test_client().get("/api/alerts.csv?since=" + iso(datetime.now(UTC) - timedelta(days=7)))
    assert api.status_code == 200 and api.headers["Content-Type"].startswith("text/csv")
    assert read_csv(api.get_data(as_text=True)) == from_json
    row = next(r for r in from_json if r["alertname"] == "RateLimitHttp429")
    assert row["suppressed_by"] == "silenced by lee (okx migration)" and row["title"].startswith("=cmd")
    assert "'=cmd" in api.get_data(as_text=True)  # a spreadsheet will not run it
    # filters: the API's, plus --alertname
    r = run(cli, ["history", "--format", "json", "--since", "7d", "--alertname", "ExchangeFrozen"], env=env)
    assert [x["id"] for x in json.loads(r.output)] == [ids["ExchangeFrozen"]]
    r = run(cli, ["history", "--format", "csv", "--severity", "P3", "--status", "firing"], env=env)
    assert [x["alertname"] for x in read_csv(r.output)] == ["DiskFreeLowEarly"]
    # the timeline
    r = run(cli, ["history", "--id", str(ids["ExchangeFrozen"])], env=env)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    events = [ln.split()[3] for ln in lines if ln.startswith("  20")]  # "  2026-11-23 01:00:00.000 UTC  fired"
    assert events == ["fired", "acknowledged", "resolved", "stored"], r.output
    assert "by=kim" in r.output and "to acknowledge 2m 0s" in r.output
    r = run(cli, ["history", "--id", "999999"], env=env)
    assert r.exit_code == 1 and "not found" in r.output


def test_daily_digest_carries_the_days_history_as_csv(database_url: str) -> None:
    from webhook_receiver.notify.digest import send_digest
    from webhook_receiver.notify.settings import load_notify_settings

    seed(database_url)
    with SMTPServer() as smtp:
        settings = load_notify_settings({"SMTP_HOST": smtp.host, "SMTP_PORT": str(smtp.port),
                                         "ALERT_EMAIL_FROM": "d76@example.org", "ALERT_EMAIL_TO": "ops@example.org"})
        store = open_store(database_url)
        try:
            send_digest(store, settings)
        finally:
            store.close()
        [mail] = smtp.wait_messages(1)
    msg = mail.message
    plain = msg.get_body(("plain",)).get_content()
    # every severity counted (the alerts active in the day: the P2 that started three days ago still
    # fires), P3 listed in full
    assert "  P0        1     0      1" in plain and "  P1        1     1      0" in plain, plain
    assert "  P2        1     1      0" in plain and "DiskFreeLowEarly" in plain and "RateLimitHttp429" not in plain
    assert "Suppressed episodes (silenced / inhibited): silenced 1, inhibited 0" in plain
    p0 = next(ln for ln in plain.splitlines() if ln.startswith("  P0"))
    assert "2m" in p0 and "20m" in p0  # MTTA 2 minutes, MTTR 20 minutes
    [att] = list(msg.iter_attachments())
    assert att.get_filename().startswith("d76-history-") and att.get_content_type() == "text/csv"
    rows = read_csv(att.get_content() if isinstance(att.get_content(), str) else att.get_content().decode())
    assert sorted(r["alertname"] for r in rows) == ["DiskFreeLowEarly", "ExchangeFrozen", "RateLimitHttp429",
                                                     "RouteScoreLow"]
    assert "(4 alerts, every severity)" in plain
    assert msg["Subject"].startswith("[D76] daily digest")
