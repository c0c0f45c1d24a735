"""Reminders and escalation steps in the HA shape (`d76 stack up --ha`: two Prometheus, three
Alertmanagers, two receivers on one PostgreSQL), against the fake Bot API enforcing Telegram's
limits: an exchange freezes; the first reminder is due with both receivers running, then receiver-a
is SIGKILLed (receiver-b takes over the lanes and the follow-ups);
each reminder and the escalation step is told once, and the database agrees (each follow-up claimed
by one receiver, each reminder one outbox row)."""
from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from local_stack.runner import Stack
from tests.support.fakes import FakeTelegram
from tests.support.stacks import telegram_stack
from tests.support.waiting import until

CHAT, ESC = "-1003001", "-1003002"
REMIND, ESCALATE = 10.0, 15.0
OVERRIDES = {"policy": {"severities": {"P0": {"remind_every": "10s"}},
                        "escalation": [{"severities": ["P0"], "steps": [
                            {"after": "15s", "telegram": {"chat": ESC, "mention": ["4242"]}}]}]}}


@pytest.fixture(scope="module")
def ha(session_tmp: Path) -> Iterator[tuple[Stack, FakeTelegram]]:
    tmp = session_tmp / f"ownership-ha-{os.getpid()}"  # reachable by the postgres user
    tmp.mkdir()
    with telegram_stack(tmp, {"TELEGRAM_CHAT_ID": CHAT, "GRAPHS_ENABLED": "false"}, overrides=OVERRIDES,
                        enforce_limits=True, ha=True, simulator_args=["--tick", "0.1"]) as (stack, tg):
        yield stack, tg


def _wait(what: str, find, timeout: float):  # type: ignore[no-untyped-def]
    return until(find, timeout, 0.1, what)


def test_each_reminder_and_escalation_step_is_told_once_across_two_receivers(ha) -> None:
    stack, tg = ha
    stack.scenario("exchange-frozen", target="upbit")
    page = _wait("the page", lambda: next((m for m in tg.messages if m.chat_id == CHAT
                                           and "[P0] upbit is FROZEN" in m.sent_visible_text), None), 60)
    _wait("the first reminder, both receivers running", lambda: tg.replies_to(CHAT, page.message_id), REMIND + 20)
    stack.kill("receiver-a")  # then the other replica takes the lanes and the follow-ups over
    _wait("three reminders and the escalation", lambda: len([
        m for m in tg.replies_to(CHAT, page.message_id) if m.sent_visible_text.startswith("🔁")]) >= 3
        and any(m.chat_id == ESC for m in tg.messages), 3 * REMIND + 30)
    time.sleep(2)  # a duplicate would be on its way by now
    reminders = [m.sent_visible_text.splitlines()[0] for m in tg.replies_to(CHAT, page.message_id)
                 if m.sent_visible_text.startswith("🔁")]
    numbers = [int(re.match(r"🔁 Reminder (\d+)", r).group(1)) for r in reminders]  # type: ignore[union-attr]
    assert numbers == list(range(1, len(numbers) + 1)), reminders  # each told once, in order
    escalations = [m for m in tg.messages if m.chat_id == ESC and "upbit" in m.sent_visible_text]
    assert len(escalations) == 1 and 'href="tg://user?id=4242"' in escalations[0].sent_text
    pages = [m for m in tg.messages if m.chat_id == CHAT and m.sent_visible_text.startswith("🚨 [P0] upbit is FROZEN")]
    assert len(pages) == 1
    db = stack.database_url()
    assert db is not None
    with psycopg.connect(db, row_factory=dict_row) as conn:
        [alert] = conn.execute("SELECT id, reminders_sent, escalations_sent FROM alerts "
                               "WHERE alertname = 'ExchangeFrozen' AND labels->>'exchange' = 'upbit'").fetchall()
        rows = conn.execute("SELECT kind, count(*) AS n, count(DISTINCT dedupe_key) AS keys FROM notifications "
                            "WHERE alert_id = %s AND kind IN ('reminder', 'escalation') GROUP BY kind",
                            (alert["id"],)).fetchall()
        done = conn.execute("SELECT kind, step, count(*) AS n FROM alert_followups WHERE alert_id = %s "
                            "AND status = 'done' GROUP BY kind, step ORDER BY kind, step", (alert["id"],)).fetchall()
    by_kind = {r["kind"]: (r["n"], r["keys"]) for r in rows}
    assert by_kind["escalation"] == (1, 1) and alert["escalations_sent"] == 1
    assert by_kind["reminder"][0] == by_kind["reminder"][1] == alert["reminders_sent"] >= len(numbers)
    assert all(r["n"] == 1 for r in done)
    assert tg.rate_limited == []
    stack.api("POST", f"/api/alerts/{alert['id']}/ack", json={"by": "ops"}, receiver="receiver-b")
    stack.scenario("calm")
