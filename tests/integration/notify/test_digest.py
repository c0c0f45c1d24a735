"""P3 email digest end to end: a real SMTP server (aiosmtpd) on loopback receives both parts,
scheduled through the outbox and by `d76 digest --send-now`."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime

from tests.support.fakes import SMTPServer
from tests.support.fakes.payloads import am_alert, am_payload
from webhook_receiver.notify.channel_map import DEFAULT_CHANNEL_MAP
from webhook_receiver.notify.digest import DigestScheduler, digest_builder, next_run
from webhook_receiver.notify.dispatcher import Dispatcher
from webhook_receiver.notify.outbox import Lane, Outbox
from webhook_receiver.notify.planner import NotifyPlanner
from webhook_receiver.notify.service import build_channels
from webhook_receiver.notify.settings import load_notify_settings
from webhook_receiver.payload import parse_alertmanager_payload
from webhook_receiver.store import open_store


def seed(store, settings) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:00:00Z")
    alerts = [am_alert("DiskFreeLowEarly", "P3", source="system", starts_at=now, labels={"path": "/data"}),
              am_alert("RateLimitEarly", "P3", source="rate_limiter", starts_at=now, labels={"exchange": "upbit"}),
              am_alert("RouteScoreLow", "P2", source="arb_route", starts_at=now)]
    planner = NotifyPlanner(Outbox(store), build_channels(settings), DEFAULT_CHANNEL_MAP)
    store.ingest(parse_alertmanager_payload(am_payload(*alerts)), planner)
    resolved = am_alert("RateLimitEarly", "P3", source="rate_limiter", starts_at=now, labels={"exchange": "upbit"},
                        status="resolved")
    store.ingest(parse_alertmanager_payload(am_payload(resolved)), planner)


def test_scheduled_digest_goes_out_once_through_the_outbox(pg_url) -> None:
    with SMTPServer() as smtp:
        settings = load_notify_settings(
            {
                "SMTP_HOST": smtp.host,
                "SMTP_PORT": str(smtp.port),
                "ALERT_EMAIL_FROM": "d76@example.org",
                "ALERT_EMAIL_TO": "ops@example.org,cto@example.org",
                "DIGEST_HOUR_UTC": "8",
            }
        )
        store = open_store(pg_url)
        store.migrate()
        try:
            seed(store, settings)
            # P3 queues nothing per alert (digest only); the P2 gets its Telegram row
            outbox = Outbox(store)
            assert [(r["severity"], r["channel"]) for r in outbox.list()] == [("P2", "telegram")]
            sched = DigestScheduler(store, outbox, settings, lane=Lane("email", "default"))
            at = datetime.now(UTC)
            assert sched.queue(at) is True
            assert sched.queue(at) is False  # once per day, across processes
            d = Dispatcher(store, outbox, build_channels(settings), settings, DEFAULT_CHANNEL_MAP,
                           digest_builder=digest_builder(store))
            deadline = time.monotonic() + 10
            while not smtp.messages and time.monotonic() < deadline:
                d.run_once()
                time.sleep(0.02)
            [mail] = smtp.wait_messages(1)
            assert sorted(mail.rcpt_tos) == ["cto@example.org", "ops@example.org"]
            plain = mail.message.get_body(("plain",)).get_content()
            html = mail.message.get_body(("html",)).get_content()
            assert "Total: 2  open: 1  resolved: 1" in plain
            assert "DiskFreeLowEarly: 1" in plain and "RouteScoreLow" not in plain  # P3 only
            assert "<h3>Open (1)</h3>" in html and "<h3>Resolved (1)</h3>" in html
            [row] = [r for r in outbox.list() if r["kind"] == "digest"]
            assert row["status"] == "sent" and row["message_id"].startswith("<")
        finally:
            store.close()


def test_next_run_is_the_configured_hour() -> None:
    now = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    assert next_run(now, 8) == datetime(2026, 11, 24, 8, tzinfo=UTC)
    assert next_run(now, 10) == datetime(2026, 11, 23, 10, tzinfo=UTC)


def test_cli_send_now_and_preview(pg_url, tmp_path) -> None:
    with SMTPServer() as smtp:
        env = {**os.environ, "DATABASE_URL": pg_url, "SMTP_HOST": smtp.host, "SMTP_PORT": str(smtp.port),
               "ALERT_EMAIL_FROM": "d76@example.org", "ALERT_EMAIL_TO": "ops@example.org"}
        store = open_store(pg_url)
        store.migrate()
        seed(store, load_notify_settings({}))
        store.close()
        cli = [sys.executable, "-m", "d76_cli.main", "digest"]
        preview = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
        assert preview.returncode == 0, preview.stderr
        assert "Total: 2  open: 1  resolved: 1" in preview.stdout and not smtp.messages
        sent = subprocess.run([*cli, "--send-now"], env=env, capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        assert "digest sent to ops@example.org: 2 P3 alerts (1 open, 1 resolved)" in sent.stdout
        assert smtp.wait_messages(1)[0].message.get_body(("html",)) is not None
        off = subprocess.run(
            [*cli, "--send-now"], env={**env, "SMTP_HOST": ""}, capture_output=True, text=True, timeout=60
        )
        assert off.returncode == 1 and "email digest is off" in off.stderr
