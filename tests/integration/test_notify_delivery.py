"""The delivery engine on a real PostgreSQL: outbox rows -> dispatcher -> fake Telegram/Slack.

Covers retries (429 retry_after, 5xx, timeout), permanent failures, resolve editing the original
message, a storm of 1,000 alerts under pacing, restart with a full outbox and two dispatchers on one
database delivering each notification once.
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Iterator

import pytest

from tests.fakes import FakeSlack, FakeTelegram, Fault
from tests.fakes.payloads import am_alert, am_payload
from webhook_receiver.dispatcher import Dispatcher
from webhook_receiver.notifiers import DEFAULT_CHANNEL_MAP, TelegramClient, load_notify_settings
from webhook_receiver.notify_planner import NotifyPlanner
from webhook_receiver.pacing import Pacer, PacingLimits
from webhook_receiver.payload import parse_alertmanager_payload
from webhook_receiver.store import open_store

CHAT = "-1001"
LIBERAL = PacingLimits(per_severity={"P0": 10_000, "P1": 10_000, "P2": 10_000, "P3": 10_000},
                       total_per_minute=10_000, chat_min_interval=0.0, chat_per_minute=10_000)


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def store(pg_url: str):
    s = open_store(pg_url)
    s.migrate()
    yield s
    s.close()


def settings_for(tg: FakeTelegram, **extra: str):
    return load_notify_settings({"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_CHAT_ID": CHAT,
                                 "TELEGRAM_API_URL": tg.api_url, **extra})


def make_dispatcher(store, tg, settings=None, limits: PacingLimits | None = LIBERAL, **kw) -> Dispatcher:
    settings = settings or settings_for(tg)
    kw.setdefault("backoff_base", 0.05)
    return Dispatcher(store, settings, DEFAULT_CHANNEL_MAP,
                      telegram=kw.pop("telegram", None) or TelegramClient(tg.token, tg.api_url, read_timeout=2),
                      chat_id=CHAT, pacer=Pacer(limits) if limits else None, **kw)


def ingest(store, settings, *alerts) -> list[int]:
    res = store.ingest(parse_alertmanager_payload(am_payload(*alerts)),
                       NotifyPlanner(store, DEFAULT_CHANNEL_MAP, settings))
    return [c.alert_id for c in res.changes]


def run_until(d: Dispatcher, done, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "dispatcher did not finish in time"
        if d.run_once() == 0:
            time.sleep(0.02)


def statuses(store) -> Counter:
    return Counter(r["status"] for r in store.list_notifications(limit=100_000))


def test_firing_then_resolve_edits_the_original_message(store, tg) -> None:
    s = settings_for(tg)
    d = make_dispatcher(store, tg, s)
    [aid] = ingest(store, s, am_alert("ExchangeFrozen", "P0", labels={"exchange": "upbit"}))
    run_until(d, lambda: len(tg.messages) == 1)
    msg = tg.messages[0]
    assert msg.visible_text.startswith("🚨 [P0]")
    assert msg.reply_markup["inline_keyboard"][0][0]["callback_data"] == f"ack:{aid}"
    firing = store.get_alert(aid)["deliveries"][0]
    assert (firing["status"], firing["message_id"], firing["chat_id"], firing["attempts"]) == ("sent", "1", CHAT, 1)

    ingest(store, s, am_alert("ExchangeFrozen", "P0", labels={"exchange": "upbit"}, status="resolved",
                              ends_at="2026-11-23T01:07:30Z"))
    run_until(d, lambda: len(tg.edits) == 1)
    assert len(tg.messages) == 1  # edited, not a new message
    edited = tg.find_message(CHAT, 1).visible_text
    assert edited.startswith("✅ RESOLVED [P0]") and "after 7m 30s" in edited
    kinds = {r["kind"]: r for r in store.get_alert(aid)["deliveries"]}
    assert kinds["resolved"]["status"] == "sent" and kinds["resolved"]["message_id"] == "1"


def test_429_honours_retry_after_then_delivers(store, tg) -> None:
    s = settings_for(tg)
    d = make_dispatcher(store, tg, s)
    tg.rate_limit(retry_after=1)
    [aid] = ingest(store, s, am_alert("Http429Burst", "P1"))
    t0 = time.monotonic()
    assert d.run_once() == 1
    row = store.get_alert(aid)["deliveries"][0]
    assert row["status"] == "pending" and "429" in row["last_error"]
    run_until(d, lambda: len(tg.messages) == 1)
    assert time.monotonic() - t0 >= 0.9  # waited what Telegram asked
    row = store.get_alert(aid)["deliveries"][0]
    assert row["status"] == "sent" and row["attempts"] == 2


def test_5xx_and_timeout_are_retried(store, tg) -> None:
    s = settings_for(tg)
    d = make_dispatcher(store, tg, s, telegram=TelegramClient(tg.token, tg.api_url, read_timeout=0.3))
    tg.inject(Fault(status=500, body={"ok": False, "error_code": 500, "description": "Internal"}))
    tg.inject(Fault(kind="timeout", delay=2))
    [aid] = ingest(store, s, am_alert("RouteScoreLow", "P2"))
    run_until(d, lambda: len(tg.messages) == 1)
    row = store.get_alert(aid)["deliveries"][0]
    assert row["status"] == "sent" and row["attempts"] == 3 and row["payload"]["failures"] == 2


def test_permanent_errors_are_recorded_not_retried(store, tg) -> None:
    s = settings_for(tg)
    d = make_dispatcher(store, tg, s)
    tg.block_chat(CHAT)
    [aid] = ingest(store, s, am_alert("GlobalLoss", "P0"))
    run_until(d, lambda: statuses(store)["failed"] == 1)
    row = store.get_alert(aid)["deliveries"][0]
    assert row["attempts"] == 1 and "403" in row["last_error"] and "blocked" in row["last_error"]
    assert d.run_once() == 0


def test_slack_routing_by_severity(store, tg) -> None:
    with FakeSlack() as slack:
        s = settings_for(tg, SLACK_WEBHOOK_URL=slack.hook_url("default"), SLACK_WEBHOOK_URL_P1=slack.hook_url("p1"))
        d = make_dispatcher(store, tg, s)
        ingest(store, s, am_alert("A", "P1"), am_alert("B", "P2"), am_alert("C", "P0"))
        run_until(d, lambda: statuses(store)["sent"] == 5)  # P0: telegram only; P1/P2: telegram + slack
        assert "[P1] A fired" in slack.posts("p1")[0]["text"]
        assert "[P2] B" in slack.posts("default")[0]["text"] and len(slack.posts()) == 2


def test_storm_of_1000_alerts_paced_and_summarised(store, tg) -> None:
    s = settings_for(tg)
    limits = PacingLimits.from_channel_map(DEFAULT_CHANNEL_MAP, chat_min_interval=0.02, summary_interval=0.3)
    d = make_dispatcher(store, tg, s, limits=limits, batch_size=100)
    names = ["RouteScoreLow"] * 500 + ["RateLimitLow"] * 300 + ["Http429Burst"] * 197
    alerts = [am_alert(n, "P2" if n != "Http429Burst" else "P1", labels={"route": f"r{i}"}) for i, n in enumerate(names)]
    alerts += [am_alert("ExchangeFrozen", "P0", labels={"exchange": f"ex{i}"}) for i in range(3)]
    for i in range(0, 1000, 100):
        ingest(store, s, *alerts[i:i + 100])
    assert store.count("alerts") == 1000
    run_until(d, lambda: statuses(store)["pending"] + statuses(store)["sending"] == 0 and not d.pending_summary(),
              timeout=60)
    st = statuses(store)
    assert st["sent"] + st["folded"] == 1000 + st_summaries(store)
    individual = [m for m in tg.messages if "more" not in m.visible_text.split("\n")[0]]
    summaries = [m for m in tg.messages if m not in individual]
    by_sev = Counter(m.visible_text.split("]")[0][-2:] for m in individual)
    assert by_sev["P0"] == 3 and by_sev["P1"] <= 5 and by_sev["P2"] <= 3
    assert len(individual) <= 10  # total budget within the minute
    assert individual[0].visible_text.startswith("🚨") and all(m.visible_text.startswith("🚨") for m in individual[:3])
    assert summaries and len(tg.messages) <= 20  # Telegram's 20/min per group
    folded_total = sum(int(part.split(" more")[0].lstrip("+")) for m in summaries
                       for part in [line.split("+", 1)[1] for line in m.visible_text.splitlines() if " more " in line])
    assert folded_total + len(individual) == 1000  # nothing dropped
    assert "RouteScoreLow ×" in "".join(m.visible_text for m in summaries)


def st_summaries(store) -> int:
    return sum(1 for r in store.list_notifications(limit=100_000) if r["kind"] == "summary")


def test_restart_with_full_outbox_delivers_everything_once(store, tg) -> None:
    s = settings_for(tg)
    ingest(store, s, *[am_alert("ExchangeDown", "P1", labels={"exchange": f"ex{i}"}) for i in range(30)])
    first = make_dispatcher(store, tg, s, worker_id="first", batch_size=5, lease_seconds=1.0).start()
    tg.wait_messages(5)
    first.stop()
    sent_before = len(tg.messages)
    assert sent_before < 30
    second = make_dispatcher(store, tg, s, worker_id="second", lease_seconds=1.0).start()
    try:
        tg.wait_messages(30, timeout=20)
        deadline = time.monotonic() + 5
        while statuses(store)["sent"] < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        second.stop()
    texts = Counter(m.visible_text.splitlines()[2] for m in tg.messages)  # "exchange: exN" line
    assert len(texts) == 30 and set(texts.values()) == {1}
    assert statuses(store) == Counter({"sent": 30})


def test_two_dispatchers_on_one_database_deliver_each_once(store, tg) -> None:
    s = settings_for(tg)
    ingest(store, s, *[am_alert("RouteSpread", "P2", labels={"route": f"r{i}"}) for i in range(60)])
    a = make_dispatcher(store, tg, s, worker_id="a", batch_size=3)
    b = make_dispatcher(store, tg, s, worker_id="b", batch_size=3)
    a.start()
    b.start()
    try:
        tg.wait_messages(60, timeout=30)
        deadline = time.monotonic() + 5
        while statuses(store)["sent"] < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        a.stop()
        b.stop()
    lines = Counter(m.visible_text.splitlines()[2] for m in tg.messages)
    assert len(tg.messages) == 60 and set(lines.values()) == {1}
    assert statuses(store) == Counter({"sent": 60})


def test_two_dispatchers_share_one_telegram_budget(store, tg) -> None:
    s = settings_for(tg)
    limits = PacingLimits.from_channel_map(DEFAULT_CHANNEL_MAP, chat_min_interval=0.0, summary_interval=0.2)
    ingest(store, s, *[am_alert("RouteScoreLow", "P2", labels={"route": f"r{i}"}) for i in range(40)])
    a = make_dispatcher(store, tg, s, limits=limits, worker_id="a", batch_size=2)
    b = make_dispatcher(store, tg, s, limits=PacingLimits.from_channel_map(
        DEFAULT_CHANNEL_MAP, chat_min_interval=0.0, summary_interval=0.2), worker_id="b", batch_size=2)
    done = lambda: statuses(store)["pending"] + statuses(store)["sending"] == 0 and not a.pending_summary() \
        and not b.pending_summary()  # noqa: E731
    deadline = time.monotonic() + 30
    while not done():  # alternate strictly so both processes take part
        assert time.monotonic() < deadline
        a.run_once()
        b.run_once()
    individual = [m for m in tg.messages if " more " not in m.visible_text.splitlines()[0]]
    assert len(individual) == 3  # P2 budget 3/min shared by both processes, not 3 each
    st = statuses(store)
    assert st["folded"] == 37 and st["sent"] - st_summaries(store) == 3
