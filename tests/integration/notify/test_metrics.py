"""Notification metrics on the receiver's /metrics: deliveries, permanent failures, outbox depth."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.support.fakes import FakeTelegram
from tests.support.fakes.payloads import am_alert, am_payload
from tests.support.waiting import until as _wait
from webhook_receiver.app import create_app
from webhook_receiver.settings import load_settings


def _samples(client) -> dict[tuple[str, tuple], float]:
    text = client.get("/metrics").get_data(as_text=True)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_sent_failed_and_outbox_depth(tmp_path):
    with FakeTelegram() as tg:
        app = create_app(load_settings(env={
            "DATABASE_URL": f"sqlite:///{tmp_path}/h.db", "TELEGRAM_BOT_TOKEN": tg.token,
            "TELEGRAM_CHAT_ID": "-5", "TELEGRAM_API_URL": tg.api_url, "TELEGRAM_POLLING": "false",
            "NOTIFY_POLL_SECONDS": "0.05"}))
        c = app.test_client()
        try:
            m = _samples(c)
            sent_key = ("d76_notifications_sent_total", (("channel", "telegram"), ("kind", "firing")))
            failed_key = ("d76_notifications_failed_total", (("channel", "telegram"), ("kind", "firing")))
            depth_key = ("d76_notifications_outbox_depth", (("channel", "telegram"),))
            assert m[sent_key] == 0 and m[failed_key] == 0 and m[depth_key] == 0
            assert c.post("/webhook/alertmanager", json=am_payload(
                am_alert("ExchangeFrozen", "P0", labels={"exchange": "upbit"}))).status_code == 200
            tg.wait_messages(1)
            _wait(lambda: _samples(c)[sent_key] == 1)
            tg.block_chat("-5")  # 403 "bot was blocked": permanent
            assert c.post("/webhook/alertmanager", json=am_payload(
                am_alert("ExchangeFrozen", "P0", labels={"exchange": "okx"}))).status_code == 200
            _wait(lambda: _samples(c)[failed_key] == 1)
            m = _samples(c)
            assert m[sent_key] == 1 and m[depth_key] == 0
        finally:
            app.extensions["d76_receiver"].close()
