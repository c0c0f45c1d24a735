"""Nobody sleeps through a P0, end to end: simulator -> real Prometheus -> real Alertmanager -> the real
`d76 receiver` -> the fake Bot API enforcing Telegram's limits (every test checks nothing got a 429).

`d76 stack up --config overrides.yml` with `P0.remind_every: 20s` and an escalation chain (a step
`after: 30s` to a second chat mentioning a user, another at 60s): an exchange freezes; the page
arrives; a reminder replying to it at 20 s; the escalation message with the mention in the second chat
at 30 s; an Ack stops both (the button through the receiver's Telegram webhook, and separately
`d76 ack`): nothing new about that alert for two more intervals; the resolve edits the messages. The
receiver SIGKILLed between a page and its reminder: the reminder still arrives, once. 100
unacknowledged P0 alerts: their reminders packed, every alert named. One stack for the module.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from local_stack.runner import Stack
from tests.support import paths
from tests.support.fakes import FakeTelegram, SentMessage
from tests.support.stacks import telegram_stack
from tests.support.waiting import until

CHAT, ESC = "-1001234", "-1005678"
USER = 4242
SECRET = "ownership-stack-secret"
REMIND, ESCALATE = 20.0, 30.0
TOLERANCE = 3.0
OVERRIDES = {"policy": {
    "severities": {"P0": {"remind_every": "20s"}},
    "escalation": [{"severities": ["P0"], "steps": [
        {"after": "30s", "telegram": {"chat": ESC, "mention": [str(USER)]}},
        {"after": "60s", "telegram": {"chat": ESC, "mention": ["@night_lead"]}}]}]}}


class Night:
    def __init__(self, stack: Stack, tg: FakeTelegram) -> None:
        self.stack, self.tg = stack, tg

    def wait(self, what: str, find: Any, timeout: float = 40.0) -> Any:
        return until(find, timeout, 0.05, what, explain=lambda: "last messages: "
                     f"{[(m.chat_id, m.visible_text.splitlines()[0]) for m in self.tg.messages[-10:]]}")

    def about(self, text: str, chat: str | None = None, after: int = 0) -> list[SentMessage]:
        return [m for m in self.tg.messages[after:]
                if text in m.sent_visible_text and (chat is None or m.chat_id == chat)]

    def alert_id(self, exchange: str, alertname: str = "ExchangeFrozen") -> int:
        r = self.stack.api("GET", "/api/alerts", params={"alertname": alertname, "status": "firing"})
        ids = [a["id"] for a in r.json()["alerts"] if a["labels"].get("exchange") == exchange]
        assert len(ids) == 1, ids
        return int(ids[0])

    def started_at(self, alert_id: int) -> float:
        """The alert's start (startsAt), on the monotonic clock the fake stamps messages with."""
        a = self.stack.api("GET", f"/api/alerts/{alert_id}").json()["alert"]
        wall = datetime.fromisoformat(a["starts_at"].replace("Z", "+00:00")).timestamp()
        return wall - (time.time() - time.monotonic())

    def timeline(self, alert_id: int) -> list[dict[str, Any]]:
        return self.stack.api("GET", f"/api/alerts/{alert_id}/timeline").json()["events"]

    def press(self, data: str, message: SentMessage) -> None:
        update = self.tg.make_callback_update(data, chat_id=message.chat_id, message_id=message.message_id,
                                              user_id=USER, username="kim")
        r = requests.post(self.stack.url("receiver") + "/telegram/webhook", json=update, timeout=10,
                          headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert r.status_code == 200, r.text

    def freeze(self, exchange: str) -> tuple[float, SentMessage]:
        """The exchange freezes (the simulator); returns when (monotonic) and its page."""
        before = len(self.tg.messages)
        t0 = time.monotonic()
        self.stack.scenario("exchange-frozen", target=exchange)
        page = self.wait(f"the page of {exchange}",
                         lambda: (self.about(f"[P0] {exchange} is FROZEN", CHAT, before) or [None])[0])
        return t0, page

    def reminders_of(self, page: SentMessage) -> list[SentMessage]:
        return [m for m in self.tg.replies_to(CHAT, page.message_id) if m.sent_visible_text.startswith("🔁")]

    def no_429(self) -> None:
        assert self.tg.rate_limited == [], f"{len(self.tg.rate_limited)} calls answered 429"


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Iterator[Night]:
    env = {"TELEGRAM_CHAT_ID": CHAT, "TELEGRAM_WEBHOOK_SECRET": SECRET, "TELEGRAM_ALLOWED_USER_IDS": str(USER),
           "GRAPHS_ENABLED": "false"}
    with telegram_stack(tmp_path_factory.mktemp("ownership"), env, overrides=OVERRIDES, enforce_limits=True,
                        simulator_args=["--tick", "0.1"]) as (stack, tg):
        yield Night(stack, tg)


def test_page_reminder_escalation_then_the_ack_button_stops_both(night: Night) -> None:
    t0, page = night.freeze("upbit")
    aid = night.alert_id("upbit")
    [reminder] = night.wait("the reminder", lambda: night.reminders_of(page))
    assert reminder.sent_visible_text.startswith("🔁 Reminder 1 · firing")
    assert not reminder.params.get("disable_notification")
    assert abs((reminder.at - page.at) - REMIND) <= TOLERANCE, reminder.at - page.at
    esc = night.wait("the escalation", lambda: night.about("upbit is FROZEN", ESC))[0]
    assert f'href="tg://user?id={USER}"' in esc.sent_text and "Escalation step 1" in esc.sent_visible_text
    started = night.started_at(aid)  # `after` counts from the alert's start (Prometheus' activeAt)
    assert abs((esc.at - started) - ESCALATE) <= TOLERANCE, esc.at - started
    print(f"measured: reminder {reminder.at - page.at:.2f} s after the page, escalation {esc.at - started:.2f} s "
          f"after the alert's start ({esc.at - page.at:.2f} s after the page)")
    assert started - t0 < 10  # (the freeze reached Prometheus' rule at once: its start is the freeze)

    night.press(f"ack:{aid}", esc)  # from the second chat: its message carries the buttons too
    answer = night.wait("the callback answer", lambda: night.tg.callback_answers)[-1]
    assert answer["text"] == "Acknowledged"
    acked = time.monotonic()
    night.wait("the page edited", lambda: "Acked by telegram:kim" in night.tg.find_message(CHAT, page.message_id).text)
    seen = len(night.tg.messages)
    time.sleep(2 * REMIND + 1)  # two more intervals: the 2nd and 3rd reminders and the 60s step were due meanwhile
    later = [m for m in night.tg.messages[seen:] if "upbit" in m.sent_visible_text]
    assert later == [], [m.sent_visible_text.splitlines()[0] for m in later]
    assert time.monotonic() - started > 60 + TOLERANCE and time.monotonic() - acked > 2 * REMIND
    events = night.timeline(aid)
    assert [e["to"] for e in events if e["event"] == "escalated"] == [f"{ESC} ({USER})"]
    assert [(e["event"], e["by"]) for e in events if e["event"] == "acknowledged"] == [("acknowledged", "telegram:kim")]

    night.stack.scenario("calm")
    night.wait("the resolve edits the page, the reminder and the escalation", lambda: all(
        night.tg.find_message(m.chat_id, m.message_id).visible_text.startswith("✅ RESOLVED")
        for m in (page, reminder, esc)), timeout=60)
    night.no_429()


def test_d76_ack_after_the_first_reminder_stops_the_escalation_and_the_reminders(night: Night) -> None:
    t0, page = night.freeze("binance")
    aid = night.alert_id("binance")
    night.wait("the reminder", lambda: night.reminders_of(page))
    r = subprocess.run([sys.executable, "-m", "d76_cli.main", "ack", str(aid), "--as", "lee", "-m", "failing over",
                        "--state-dir", str(night.stack.config.state_dir)],
                       capture_output=True, text=True, cwd=paths.REPO, timeout=60)
    assert r.returncode == 0 and "as lee: failing over" in r.stdout, r.stdout + r.stderr
    assert time.monotonic() - t0 < ESCALATE - 2  # before the first escalation step was due
    seen = len(night.tg.messages)
    time.sleep(2 * REMIND + 1)  # two more intervals, the first escalation step's time among them
    assert time.monotonic() - night.started_at(aid) > ESCALATE + TOLERANCE
    later = [m for m in night.tg.messages[seen:] if "binance" in m.sent_visible_text]
    assert later == [], [m.sent_visible_text.splitlines()[0] for m in later]
    assert not night.about("binance", ESC)  # never escalated
    page_now = night.tg.find_message(CHAT, page.message_id).visible_text
    assert "Acked by lee" in page_now and ": failing over" in page_now and "🔁 1 reminder sent" in page_now
    night.stack.scenario("calm")
    night.wait("the resolve", lambda: night.tg.find_message(CHAT, page.message_id).visible_text.startswith(
        "✅ RESOLVED"), timeout=60)
    night.no_429()


def test_a_receiver_killed_between_page_and_reminder_still_reminds_once(night: Night) -> None:
    _, page = night.freeze("okx")
    aid = night.alert_id("okx")
    night.stack.kill("receiver")
    killed = time.monotonic()
    time.sleep(1.0)
    night.stack.start("receiver")
    assert time.monotonic() - killed < REMIND - 5  # back well before the reminder is due
    [reminder] = night.wait("the reminder after the restart", lambda: night.reminders_of(page), timeout=45)
    assert abs((reminder.at - page.at) - REMIND) <= 8.0 + TOLERANCE  # a dead holder's lane moves within 8 s
    time.sleep(3)
    assert len([m for m in night.reminders_of(page) if m.sent_visible_text.startswith("🔁 Reminder 1")]) == 1
    night.stack.api("POST", f"/api/alerts/{aid}/ack", json={"by": "ops"})
    night.stack.scenario("calm")
    night.no_429()


def _am_alert(n: int, ends: datetime | None = None) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"labels": {"alertname": "OrderbookStale", "severity": "P0", "source": "exchange_health",
                       "exchange": f"rs{n:03d}", "job": "d75"},
            "annotations": {"summary": f"rs{n:03d} order book stale", "description": "injected"},
            "startsAt": (now - timedelta(seconds=1)).isoformat(), **({"endsAt": ends.isoformat()} if ends else {})}


def test_a_hundred_unacknowledged_p0_reminders_are_packed_and_name_every_alert(night: Night) -> None:
    names = [f"rs{n:03d}" for n in range(100)]
    before = len(night.tg.messages)
    r = requests.post(night.stack.url("alertmanager") + "/api/v2/alerts", json=[_am_alert(n) for n in range(100)],
                      timeout=10)
    assert r.status_code == 200, r.text
    word = re.compile(r"\brs\d{3}\b")

    def named(prefix: str) -> set[str]:
        return {v for m in night.tg.messages[before:] if m.chat_id == CHAT and m.sent_visible_text.startswith(prefix)
                for v in word.findall(m.sent_visible_text)}

    night.wait("every page", lambda: len({v for m in night.tg.messages[before:] if m.chat_id == CHAT
                                          for v in word.findall(m.sent_visible_text)}) == 100, timeout=60)
    night.wait("a reminder naming every alert", lambda: named("🔁") == set(names), timeout=90)
    reminders = [m for m in night.tg.messages[before:] if m.chat_id == CHAT and m.sent_visible_text.startswith("🔁")]
    first_round = [m for m in reminders if "🔁 Reminder: " in m.sent_visible_text]
    assert first_round and len(reminders) < 20, len(reminders)  # packed, not a hundred messages
    night.no_429()
    ends = datetime.now(UTC)
    requests.post(night.stack.url("alertmanager") + "/api/v2/alerts", json=[_am_alert(n, ends) for n in range(100)],
                  timeout=10)
