"""A real `d76 receiver` says at start, in its structured log, which configured channel nothing is routed
to and which routes go to channels not configured; never a webhook URL or a token."""
from __future__ import annotations

import json
import time
from pathlib import Path

from tests.conftest import start_receiver

SECRET_URL = "https://hooks.slack.com/services/T000/B000/very-secret-path"


def test_routing_warnings_are_logged_at_start(tmp_path: Path) -> None:
    log = tmp_path / "receiver.log"
    proc, _ = start_receiver(log, {"DATABASE_URL": f"sqlite:///{tmp_path / 'h.sqlite3'}", "RECEIVER_TOKEN": "t",
                                   "SLACK_WEBHOOK_URL_P0": SECRET_URL, "TELEGRAM_POLLING": "false"},
                             unset=("SLACK_WEBHOOK_URL", "SMTP_HOST", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID"))
    try:
        deadline = time.monotonic() + 10
        lines: list[dict] = []
        while time.monotonic() < deadline:
            lines = [json.loads(ln) for ln in log.read_text().splitlines() if ln.startswith("{")]
            if any(ln.get("msg", "").startswith("channel routing") for ln in lines):
                break
            time.sleep(0.2)
    finally:
        proc.stop()
    routing = [ln for ln in lines if ln.get("msg", "").startswith("channel routing")]
    assert {(ln["level"], ln["kind"], ln["channel"]) for ln in routing} == {
        ("warning", "unused", "slack"), ("warning", "unconfigured", "slack"), ("warning", "unconfigured", "email"),
        ("warning", "unconfigured", "telegram")}
    unused = next(ln for ln in routing if ln["kind"] == "unused")
    assert unused["severities"] == ["P0"] and unused["variables"] == ["SLACK_WEBHOOK_URL_P0"]
    assert "does not route P0 to slack" in unused["msg"]
    assert "very-secret" not in log.read_text()
