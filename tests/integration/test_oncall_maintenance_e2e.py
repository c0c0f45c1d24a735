"""On call and recurring maintenance windows end to end: `d76 stack up --config overrides.yml` (the
stack runner: simulator -> real Prometheus -> real Alertmanager -> the real `d76 receiver` process ->
the fake Bot API, commands by long polling), one stack for the module.

The override file has a window open now for `exchange=upbit` (made from the clock in Asia/Seoul) and a
weekly rotation alice -> bob that alice took over an hour ago. upbit freezes: Alertmanager mutes it,
the history records it as suppressed by the window; binance freezes: the page mentions alice;
`/oncall` says alice now, bob next; `/oncall take 4h` by bob makes the next page mention him, and is
refused to a user not allowed; `d76 oncall` shows it from the stack's state folder; a silence on a
frozen exchange runs out and the chat is told once, with the count."""
from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from local_stack.runner import Stack
from tests.support.fakes import FakeTelegram, SentMessage
from tests.support.paths import REPO
from tests.support.schedules import oncall_from_now, open_window
from tests.support.stacks import telegram_stack
from tests.support.waiting import until

CHAT = "-1001234"
ALICE, BOB, STRANGER = 4242, 77, 99
WAIT = 40.0


def overrides() -> dict:
    """Made when the stack starts (not at import: a parallel run may start this module much later)."""
    return {"policy": {
        "oncall": oncall_from_now(["alice", "bob"], {"alice": {"telegram": str(ALICE)}, "bob": {"telegram": "@bob"}}),
        "maintenance": [open_window("upbit-now", {"exchange": "upbit"})],
    }}


class E2E:
    def __init__(self, stack: Stack, tg: FakeTelegram, state: str) -> None:
        self.stack, self.tg, self.state = stack, tg, state
        self.started = datetime.now(UTC).isoformat().replace("+00:00", "Z")

    def page(self, exchange: str, after: int) -> SentMessage:
        return self.tg.wait_for(lambda: next((m for m in self.tg.messages[after:]
                                              if f"[P0] {exchange} is FROZEN" in m.visible_text), None), WAIT)

    def command(self, text: str, user_id: int, username: str) -> str:
        msg = self.tg.send_command(text, chat_id=CHAT, user_id=user_id, username=username)
        return self.tg.wait_reply(CHAT, msg["message_id"], timeout=20).visible_text

    def frozen(self, exchange: str) -> dict | None:
        r = self.stack.api("GET", "/api/alerts", params={"since": self.started, "alertname": "ExchangeFrozen"})
        assert r.status_code == 200, r.text
        return next((a for a in r.json()["alerts"] if a["labels"].get("exchange") == exchange), None)


def _wait(fn, timeout: float = WAIT, what: str = "condition"):  # type: ignore[no-untyped-def]
    return until(fn, timeout, 0.25, what)


@pytest.fixture(scope="module")
def e2e(tmp_path_factory) -> Iterator[E2E]:
    tmp = tmp_path_factory.mktemp("oncall-e2e")
    env = {"TELEGRAM_CHAT_ID": CHAT, "TELEGRAM_POLLING": "true", "TELEGRAM_POLL_TIMEOUT": "1",
           "TELEGRAM_ALLOWED_USER_IDS": f"{ALICE},{BOB}",
           "TELEGRAM_CHAT_PER_MINUTE": "600", "TELEGRAM_CHAT_MIN_INTERVAL_SECONDS": "0.3",
           "HISTORY_RECONCILE_INTERVAL_SECONDS": "1", "MUTE_EXPIRY_CHECK_SECONDS": "1"}
    with telegram_stack(tmp, env, overrides=overrides(), simulator_args=["--tick", "0.1"]) as (stack, tg):
        yield E2E(stack, tg, str(tmp / "stack"))


def test_upbit_frozen_in_its_window_is_muted_and_recorded_as_such(e2e: E2E) -> None:
    before = len(e2e.tg.messages)
    e2e.stack.scenario("exchange-frozen", "upbit")
    alert = _wait(lambda: e2e.frozen("upbit"), what="upbit's ExchangeFrozen in the history")
    assert alert["origin"] == "alertmanager" and alert["receive_count"] == 0  # Alertmanager never sent it

    def muted() -> list[dict]:
        r = e2e.stack.api("GET", f"/api/alerts/{alert['id']}/timeline")
        return [e for e in r.json()["events"] if e["event"] == "muted"]

    [event] = _wait(muted, what="the muted episode")
    assert event["window"] == "upbit-now"
    [episode] = e2e.stack.api("GET", f"/api/alerts/{alert['id']}/timeline").json()["episodes"]
    assert (episode["kind"], episode["cause"]) == ("muted", "upbit-now")
    time.sleep(3)
    assert not any("upbit" in m.visible_text for m in e2e.tg.messages[before:])


def test_binance_frozen_pages_mentioning_who_is_on_call(e2e: E2E) -> None:
    before = len(e2e.tg.messages)
    e2e.stack.scenario("exchange-frozen", "binance")
    page = e2e.page("binance", before)
    assert "📟 on call: alice" in page.visible_text
    assert f'<a href="tg://user?id={ALICE}">alice</a>' in page.text
    assert page.chat_id == CHAT


def test_oncall_says_now_and_next_and_take_changes_who_is_mentioned(e2e: E2E) -> None:
    shown = e2e.command("/oncall", ALICE, "alice")
    assert "On call now: alice (rotation)" in shown and "Next: bob (rotation)" in shown
    refused = e2e.command("/oncall take 4h", STRANGER, "mallory")
    assert "only takes commands from its operators" in refused
    taken = e2e.command("/oncall take 4h", BOB, "bob")
    assert "bob is on call until" in taken and "On call now: bob (taken)" in taken
    status = e2e.command("/status", ALICE, "alice")
    assert "upbit-now exchange=upbit" in status and "open now" in status and "On call: bob (taken)" in status
    before = len(e2e.tg.messages)
    e2e.stack.scenario("exchange-frozen", "bithumb")
    page = e2e.page("bithumb", before)
    assert "📟 on call: @bob" in page.visible_text


def test_d76_oncall_reads_the_stack(e2e: E2E) -> None:
    d76 = str(REPO / ".venv/bin/d76") if (REPO / ".venv/bin/d76").exists() else "d76"
    out = subprocess.run([d76, "oncall", "--state-dir", e2e.state, "--days", "8"], capture_output=True, text=True,
                         timeout=60, env={**os.environ})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[1].split()[:2] == ["now", "bob"] and "(taken)" in lines[1]
    assert lines[2].split()[:2] == ["next", "alice"]


def test_a_mute_that_runs_out_while_bithumb_is_frozen_is_told_once(e2e: E2E) -> None:
    am = e2e.stack.url("alertmanager")
    before = len(e2e.tg.messages)
    t0 = datetime.now(UTC)
    r = requests.post(f"{am}/api/v2/silences", json={
        "matchers": [{"name": "exchange", "value": "bithumb", "isRegex": False, "isEqual": True}],
        "startsAt": t0.isoformat(), "endsAt": (t0 + timedelta(seconds=10)).isoformat(),
        "createdBy": "kim", "comment": "bithumb wallet maintenance"}, timeout=5)
    assert r.status_code == 200, r.text

    def notices() -> list:
        return [m for m in e2e.tg.messages[before:] if "mute on exchange=bithumb expired" in m.visible_text]

    [notice] = _wait(notices, what="the expired-mute notice")
    assert "mute on exchange=bithumb expired; 1 alert still firing" in notice.visible_text
    assert "ExchangeFrozen" in notice.visible_text and "bithumb wallet maintenance" in notice.visible_text
    time.sleep(4)
    assert len(notices()) == 1
