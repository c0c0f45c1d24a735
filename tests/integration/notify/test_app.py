"""Notifications inside the real receiver app: webhook in -> Telegram out, buttons pressed through
POST /telegram/webhook and through getUpdates long polling, silences in a real Alertmanager,
the dead man's switch, and the console dry run."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask

from tests.support.fakes import FakeTelegram
from tests.support.fakes.payloads import am_alert, am_payload
from tests.support.waiting import until as wait
from webhook_receiver.app import close_app, create_app
from webhook_receiver.runtime import ReceiverRuntime
from webhook_receiver.settings import load_settings

CHAT = "-1001"
SECRET = "s3cret-webhook-token"
OPERATOR = 4242


@pytest.fixture
def alertmanager(alertmanager_factory, tmp_path: Path) -> str:
    cfg = tmp_path / "am.yml"
    cfg.write_text("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n")
    _, url = alertmanager_factory(cfg)
    return url


class Apps:
    """Receiver apps made by a test; whatever is still running at its end is closed."""

    def __init__(self) -> None:
        self.running: list[Flask] = []

    def make(self, db_url: str, tg: FakeTelegram | None = None, **env: str) -> Flask:
        base = {"DATABASE_URL": db_url, "NOTIFY_POLL_SECONDS": "0.05", **env}
        if tg is not None:
            base.update({"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_CHAT_ID": CHAT, "TELEGRAM_API_URL": tg.api_url,
                         "TELEGRAM_ALLOWED_USER_IDS": str(OPERATOR), "TELEGRAM_POLL_TIMEOUT": "1"})
        app = create_app(load_settings(base))
        self.running.append(app)
        return app

    def close(self, app: Flask) -> None:
        self.running.remove(app)
        close_app(app)


@pytest.fixture
def apps() -> Iterator[Apps]:
    made = Apps()
    yield made
    for app in list(made.running):
        made.close(app)


def runtime(app: Flask) -> ReceiverRuntime:
    rt = app.extensions["d76_receiver"]
    assert isinstance(rt, ReceiverRuntime)
    return rt


def post_alerts(client, *alerts) -> None:
    r = client.post("/webhook/alertmanager", json=am_payload(*alerts))
    assert r.status_code == 200, r.get_data(as_text=True)


def press(client, tg: FakeTelegram, data: str, message_id: int, user_id: int = OPERATOR, secret: str = SECRET):
    update = tg.make_callback_update(data, chat_id=CHAT, message_id=message_id, user_id=user_id, username="kim")
    update["update_id"] = 1
    return client.post("/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret})


def test_ack_button_through_webhook_records_and_edits(pg_url, tg, alertmanager, apps: Apps) -> None:
    app = apps.make(pg_url, tg, TELEGRAM_WEBHOOK_SECRET=SECRET, ALERTMANAGER_URL=alertmanager)
    client = app.test_client()
    post_alerts(client, am_alert("ExchangeFrozen", "P0", labels={"exchange": "upbit"}))
    [msg] = tg.wait_messages(1)
    alert_id = int(msg.reply_markup["inline_keyboard"][0][0]["callback_data"].split(":")[1])

    assert press(client, tg, f"ack:{alert_id}", msg.message_id, secret="wrong").status_code == 401
    r = press(client, tg, f"ack:{alert_id}", msg.message_id, user_id=999)  # not an allowed user
    assert r.status_code == 200
    assert tg.wait_callback_answers(1)[-1]["text"].startswith("You are not allowed")
    assert client.get(f"/api/alerts/{alert_id}").json["alert"]["acknowledged"] is False

    assert press(client, tg, f"ack:{alert_id}", msg.message_id).status_code == 200
    answers = tg.wait_callback_answers(2)
    assert answers[-1]["text"] == "Acknowledged"
    got = client.get(f"/api/alerts/{alert_id}").json["alert"]
    assert got["acknowledged"] is True and got["acknowledged_by"] == "telegram:kim"
    tg.wait_edits(1)  # the edit goes through the outbox, paced like every message
    edited = tg.find_message(CHAT, msg.message_id)
    assert "Acked by telegram:kim" in edited.visible_text
    assert [b["callback_data"] for b in edited.reply_markup["inline_keyboard"][0]] == \
        [f"sil:{alert_id}:1h", f"sil:{alert_id}:24h"]
    deliveries = got["deliveries"]
    assert deliveries[0]["channel"] == "telegram" and deliveries[0]["status"] == "sent"

    press(client, tg, f"ack:{alert_id}", msg.message_id)  # second press: answered, nothing changes
    assert tg.wait_callback_answers(3)[-1]["text"].startswith("Already acknowledged")


def test_silence_button_creates_alertmanager_silence(pg_url, tg, alertmanager, apps: Apps) -> None:
    app = apps.make(pg_url, tg, TELEGRAM_WEBHOOK_SECRET=SECRET, ALERTMANAGER_URL=alertmanager)
    client = app.test_client()
    post_alerts(client, am_alert("RouteLossStreak", "P2", source="risk_guard",
                                 labels={"route": "upbit-binance-BTC", "tier": "route"}))
    [msg] = tg.wait_messages(1)
    alert_id = int(msg.reply_markup["inline_keyboard"][0][0]["callback_data"].split(":")[1])
    assert press(client, tg, f"sil:{alert_id}:24h", msg.message_id).status_code == 200
    assert tg.wait_callback_answers(1)[-1]["text"] == "Silenced for 24h"
    silences = requests.get(f"{alertmanager}/api/v2/silences", timeout=5).json()
    [sil] = [s for s in silences if s["status"]["state"] == "active"]
    matchers = {m["name"]: m["value"] for m in sil["matchers"]}
    assert matchers == {"alertname": "RouteLossStreak", "route": "upbit-binance-BTC", "tier": "route"}
    assert sil["createdBy"] == "telegram:kim"
    got = client.get(f"/api/alerts/{alert_id}").json["alert"]
    assert got["silence_id"] == sil["id"] and got["silenced_until"] is not None


def test_silence_with_alertmanager_down_is_answered_not_crashed(pg_url, tg, apps: Apps) -> None:
    from local_stack.processes import free_port

    app = apps.make(pg_url, tg, TELEGRAM_WEBHOOK_SECRET=SECRET, ALERTMANAGER_URL=f"http://127.0.0.1:{free_port()}")
    client = app.test_client()
    post_alerts(client, am_alert("ExchangeDegraded", "P2", labels={"exchange": "kraken"}))
    [msg] = tg.wait_messages(1)
    alert_id = int(msg.reply_markup["inline_keyboard"][0][0]["callback_data"].split(":")[1])
    assert press(client, tg, f"sil:{alert_id}:1h", msg.message_id).status_code == 200
    assert tg.wait_callback_answers(1)[-1]["text"].startswith("Could not do that: alertmanager")
    assert client.get(f"/api/alerts/{alert_id}").json["alert"]["silence_id"] is None


def test_long_polling_ack_without_public_url(pg_url, tg, apps: Apps) -> None:
    app = apps.make(pg_url, tg)  # no webhook secret: long polling is the default
    client = app.test_client()
    post_alerts(client, am_alert("Http429Burst", "P1", source="rate_limiter", labels={"exchange": "bybit"}))
    [msg] = tg.wait_messages(1)
    alert_id = int(msg.reply_markup["inline_keyboard"][0][0]["callback_data"].split(":")[1])
    tg.press_button(f"ack:{alert_id}", chat_id=CHAT, message_id=msg.message_id, user_id=OPERATOR)
    assert tg.wait_callback_answers(1)[-1]["text"] == "Acknowledged"
    wait(lambda: client.get(f"/api/alerts/{alert_id}").json["alert"]["acknowledged"])
    # the webhook endpoint is off without a secret
    assert press(client, tg, f"ack:{alert_id}", msg.message_id).status_code == 403


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_resolve_through_the_app_edits_message(backend, request, tmp_path, tg) -> None:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path / 'alerts.db'}"
    apps: Apps = request.getfixturevalue("apps")  # after the database: the app closes before it is dropped
    app = apps.make(url, tg)
    client = app.test_client()
    post_alerts(client, am_alert("ExchangeDown", "P1", labels={"exchange": "okx"}))
    tg.wait_messages(1)
    post_alerts(client, am_alert("ExchangeDown", "P1", labels={"exchange": "okx"}, status="resolved",
                                 ends_at="2026-11-23T02:00:00Z"))
    [edit] = tg.wait_edits(1)
    assert "RESOLVED [P1]" in edit["text"] and "after 1h" in tg.find_message(CHAT, 1).visible_text
    assert len(tg.messages) == 1


def test_ack_through_the_api_edits_the_telegram_message(pg_url, tg, apps: Apps) -> None:
    app = apps.make(pg_url, tg)
    client = app.test_client()
    post_alerts(client, am_alert("SymbolDrawdown", "P1", source="risk_guard", labels={"symbol": "BTC"}))
    [msg] = tg.wait_messages(1)
    alert_id = client.get("/api/alerts").json["alerts"][0]["id"]
    r = client.post(f"/api/alerts/{alert_id}/ack", json={"by": "lee", "comment": "looking"})
    assert r.status_code == 200 and r.json["changed"] is True
    [edit] = tg.wait_edits(1)
    assert "Acked by lee" in tg.find_message(CHAT, msg.message_id).visible_text
    assert edit["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == f"sil:{alert_id}:1h"
    wait(
        lambda: (
            {(d["kind"], d["status"]) for d in client.get(f"/api/alerts/{alert_id}").json["alert"]["deliveries"]}
            == {("firing", "sent"), ("ack", "sent")}
        )
    )


def test_dead_mans_switch_down_then_recovered(pg_url, tg, apps: Apps) -> None:
    app = apps.make(pg_url, tg, DEADMAN_TIMEOUT_SECONDS="1")
    client = app.test_client()
    service = runtime(app).notify
    post_alerts(client, am_alert("Watchdog", None, source="system"))
    assert tg.messages == []  # Watchdog itself is never relayed
    [down] = tg.wait_messages(1, timeout=15)
    assert "[P0] Alerting pipeline is down" in down.visible_text
    post_alerts(client, am_alert("Watchdog", None, source="system", starts_at="2026-11-23T01:00:00Z"))
    msgs = tg.wait_messages(2, timeout=15)
    assert "recovered" in msgs[1].visible_text
    assert service.deadman.down is False


def test_dead_mans_switch_recovers_after_a_restart_during_the_outage(pg_url, tg, apps: Apps) -> None:
    app = apps.make(pg_url, tg, DEADMAN_TIMEOUT_SECONDS="1")
    client = app.test_client()
    post_alerts(client, am_alert("Watchdog", None, source="system"))
    tg.wait_messages(1, timeout=15)  # "pipeline is down"
    apps.close(app)  # the receiver restarts during the outage
    app = apps.make(pg_url, tg, DEADMAN_TIMEOUT_SECONDS="1")
    client = app.test_client()
    deadman = runtime(app).notify.deadman
    assert deadman.check() is None  # state restored: no second "down"
    assert deadman.down is True
    post_alerts(client, am_alert("Watchdog", None, source="system"))
    msgs = tg.wait_messages(2, timeout=15)
    assert "recovered" in msgs[1].visible_text and len(msgs) == 2


def test_console_dry_run_without_token(pg_url, capsys, apps: Apps) -> None:
    app = apps.make(pg_url, NOTIFICATIONS_ENABLED="true")  # no Telegram token
    client = app.test_client()
    post_alerts(client, am_alert("GlobalDailyLoss", "P0", source="risk_guard",
                                 annotations={"summary": "일일 손실 한도 초과"}))
    alert_id = client.get("/api/alerts").json["alerts"][0]["id"]
    wait(
        lambda: [d["status"] for d in client.get(f"/api/alerts/{alert_id}").json["alert"]["deliveries"]] == ["sent"]
    )
    out = capsys.readouterr().out
    assert "[telegram dry-run]" in out and "🚨 [P0] 일일 손실 한도 초과" in out


def test_ack_all_and_silence_all_on_a_packed_message(pg_url, tg, alertmanager, apps: Apps) -> None:
    # packed as soon as two wait (NOTIFY_FULL_WITHIN_SECONDS=0; by default three are told in full)
    app = apps.make(pg_url, tg, TELEGRAM_WEBHOOK_SECRET=SECRET, ALERTMANAGER_URL=alertmanager,
                    NOTIFY_FULL_WITHIN_SECONDS="0")
    client = app.test_client()
    post_alerts(
        client, *[am_alert("ExchangeDown", "P1", labels={"exchange": ex}) for ex in ("okx", "kraken", "bybit")]
    )
    [msg] = tg.wait_messages(1)  # three at once: one packed message
    assert msg.visible_text.startswith("⚠️ 3 alerts firing (P1 3)")
    datas = [b["callback_data"] for row in msg.reply_markup["inline_keyboard"] for b in row]
    ack_all = next(d for d in datas if d.startswith("pa:"))
    sil_all = next(d for d in datas if d.startswith("ps:"))
    assert press(client, tg, ack_all, msg.message_id).status_code == 200
    assert tg.wait_callback_answers(1)[-1]["text"] == "Acknowledged 3 alerts"
    assert all(a["acknowledged"] for a in client.get("/api/alerts").json["alerts"])
    tg.wait_edits(1)  # one edit of the packed message shows every acknowledgement
    assert tg.find_message(CHAT, msg.message_id).visible_text.count("👤 telegram:kim") == 3
    assert press(client, tg, sil_all, msg.message_id).status_code == 200
    assert tg.wait_callback_answers(2)[-1]["text"] == "Silenced 3 alerts for 1h"
    silences = [s for s in requests.get(f"{alertmanager}/api/v2/silences", timeout=5).json()
                if s["status"]["state"] == "active"]
    assert sorted(next(m["value"] for m in s["matchers"] if m["name"] == "exchange") for s in silences) == \
        ["bybit", "kraken", "okx"]


def test_dead_mans_switch_pages_at_once_when_the_watchdog_is_resolved(pg_url, tg, apps: Apps) -> None:
    """Alertmanager resolves the Watchdog when Prometheus stops renewing it: that is the pipeline down
    now (a resolved arrival is no sign of life), not after DEADMAN_TIMEOUT_SECONDS of silence."""
    app = apps.make(pg_url, tg, DEADMAN_TIMEOUT_SECONDS="3600")
    client = app.test_client()
    post_alerts(client, am_alert("Watchdog", None, source="system"))
    deadman = runtime(app).notify.deadman
    assert deadman.check() is None and tg.messages == []  # firing, fresh: alive
    post_alerts(client, am_alert("Watchdog", None, source="system", status="resolved",
                                 ends_at="2026-11-23T02:00:00Z"))
    assert deadman.check() == "down"
    [down] = tg.wait_messages(1, timeout=15)
    assert "Prometheus stopped sending it" in down.visible_text
    post_alerts(client, am_alert("Watchdog", None, source="system", starts_at="2026-11-23T03:00:00Z"))
    assert deadman.check() == "recovered"  # a new occurrence firing: back
    assert "recovered" in tg.wait_messages(2, timeout=15)[1].visible_text
