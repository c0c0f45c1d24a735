"""The delivery engine against the fake Bot API and Slack: outbox rows -> lanes -> messages.

Retries (429 retry_after never counted as a failure, 5xx, timeouts), permanent failures, resolve
editing the original message, packing a storm so that every alert is named once, the naming bound,
a restart with a full outbox, and two receiver processes on one database sharing one lane (each
alert told once, Telegram's limits never exceeded). PostgreSQL and SQLite.
"""
from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

from tests.conftest import telegram_env
from tests.support.fakes import FakeSlack, FakeTelegram, Fault
from tests.support.fakes.payloads import am_alert, am_payload
from webhook_receiver.notify.channel_map import DEFAULT_CHANNEL_MAP
from webhook_receiver.notify.dispatcher import Dispatcher
from webhook_receiver.notify.outbox import Outbox
from webhook_receiver.notify.planner import NotifyPlanner
from webhook_receiver.notify.service import build_channels
from webhook_receiver.notify.settings import NotifySettings, load_notify_settings
from webhook_receiver.payload import parse_alertmanager_payload

CHAT = "-1001"
# no pacing: these tests are about outcomes, not Telegram's clock
FAST = {"TELEGRAM_CHAT_MIN_INTERVAL_SECONDS": "0", "TELEGRAM_CHAT_PER_MINUTE": "10000",
        "TELEGRAM_GLOBAL_PER_SECOND": "0", "TELEGRAM_P0_RESERVE_PER_MINUTE": "0", "NOTIFY_BACKOFF_BASE_SECONDS": "0.05"}


def settings_for(tg: FakeTelegram, **extra: str) -> NotifySettings:
    return load_notify_settings({**telegram_env(tg, CHAT), **FAST, **extra})


def make_dispatcher(store, settings: NotifySettings, worker_id: str | None = None) -> Dispatcher:
    return Dispatcher(store, Outbox(store), build_channels(settings), settings, DEFAULT_CHANNEL_MAP,
                      worker_id=worker_id)


def ingest(store, settings: NotifySettings, *alerts: dict) -> list[int]:
    planner = NotifyPlanner(Outbox(store), build_channels(settings), DEFAULT_CHANNEL_MAP)
    res = store.ingest(parse_alertmanager_payload(am_payload(*alerts)), planner)
    return [c.alert_id for c in res.changes]


def run_until(d: Dispatcher, done, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "dispatcher did not finish in time"
        if d.run_once() == 0:
            time.sleep(0.02)


def rows(store) -> list[dict[str, Any]]:
    return Outbox(store).list(limit=100_000)


def statuses(store) -> Counter:
    return Counter(r["status"] for r in rows(store))


def wait_sent(store, n: int, timeout: float) -> None:
    """Until `n` rows are sent (the dispatchers run in their threads)."""
    deadline = time.monotonic() + timeout
    while statuses(store)["sent"] < n:
        assert time.monotonic() < deadline, f"{statuses(store)} after {timeout} s, not {n} sent"
        time.sleep(0.05)


def deliveries(store, alert_id: int) -> list[dict[str, Any]]:
    return Outbox(store).deliveries(alert_id)


def naming_counts(tg: FakeTelegram, pattern: str) -> Counter:
    """In how many sendMessage texts each label value matching `pattern` appears."""
    c: Counter = Counter()
    for m in tg.messages:
        for v in set(re.findall(pattern, m.visible_text)):
            c[v] += 1
    return c


def test_firing_then_resolve_edits_the_original_message(store, tg) -> None:
    s = settings_for(tg)
    d = make_dispatcher(store, s)
    [aid] = ingest(store, s, am_alert("ExchangeFrozen", "P0", labels={"exchange": "upbit"}))
    run_until(d, lambda: len(tg.messages) == 1)
    msg = tg.messages[0]
    assert msg.visible_text.startswith("🚨 [P0]")
    assert msg.reply_markup["inline_keyboard"][0][0]["callback_data"] == f"ack:{aid}"
    firing = deliveries(store, aid)[0]
    assert (firing["status"], firing["message_id"], firing["chat_id"], firing["attempts"]) == ("sent", "1", CHAT, 1)

    ingest(store, s, am_alert("ExchangeFrozen", "P0", labels={"exchange": "upbit"}, status="resolved",
                              ends_at="2026-11-23T01:07:30Z"))
    run_until(d, lambda: len(tg.edits) == 1)
    assert len(tg.messages) == 1  # edited, not a new message
    edited = tg.find_message(CHAT, 1).visible_text
    assert edited.startswith("✅ RESOLVED [P0]") and "after 7m 30s" in edited
    kinds = {r["kind"]: r for r in deliveries(store, aid)}
    assert kinds["resolved"]["status"] == "sent" and kinds["resolved"]["message_id"] == "1"


def test_429_honours_retry_after_and_never_counts_as_a_failure(store, tg) -> None:
    s = settings_for(tg, NOTIFY_MAX_FAILURES="3")
    d = make_dispatcher(store, s)
    tg.rate_limit(retry_after=1, times=5)  # more 429s than the failure limit
    [aid] = ingest(store, s, am_alert("Http429Burst", "P1"))
    t0 = time.monotonic()
    assert d.run_once() == 1
    row = deliveries(store, aid)[0]
    assert row["status"] == "pending" and "429" in row["last_error"]
    run_until(d, lambda: len(tg.messages) == 1, timeout=30)
    assert time.monotonic() - t0 >= 4.5  # waited what Telegram asked, five times
    row = deliveries(store, aid)[0]
    assert row["status"] == "sent" and row["attempts"] == 6
    assert row["payload"]["rate_limited"] == 5 and "failures" not in row["payload"]


def test_5xx_and_timeout_are_retried_and_counted(store, tg) -> None:
    s = settings_for(tg)
    d = make_dispatcher(store, s)
    d.channels["telegram"].client._timeout = (1.0, 0.3)  # a short read timeout for the hang below
    tg.inject(Fault(status=500, body={"ok": False, "error_code": 500, "description": "Internal"}))
    tg.inject(Fault(kind="timeout", delay=2))
    [aid] = ingest(store, s, am_alert("RouteScoreLow", "P2"))
    run_until(d, lambda: deliveries(store, aid)[0]["status"] == "sent", timeout=30)
    row = deliveries(store, aid)[0]
    assert row["attempts"] == 3 and row["payload"]["failures"] == 2
    # (the call that timed out may still have reached Telegram: a timeout cannot tell; that is the one
    # case where a message can arrive twice)


def test_real_failures_give_up_after_the_limit(store, tg) -> None:
    s = settings_for(tg, NOTIFY_MAX_FAILURES="2")
    d = make_dispatcher(store, s)
    tg.inject(Fault(status=502, times=5, body={"ok": False, "error_code": 502, "description": "Bad Gateway"}))
    [aid] = ingest(store, s, am_alert("RouteScoreLow", "P2"))
    run_until(d, lambda: statuses(store)["failed"] == 1, timeout=30)
    row = deliveries(store, aid)[0]
    assert "gave up after 2 failures" in row["last_error"] and tg.messages == []


def test_permanent_errors_are_recorded_not_retried(store, tg) -> None:
    s = settings_for(tg)
    d = make_dispatcher(store, s)
    tg.block_chat(CHAT)
    [aid] = ingest(store, s, am_alert("GlobalLoss", "P0"))
    run_until(d, lambda: statuses(store)["failed"] == 1)
    row = deliveries(store, aid)[0]
    assert row["attempts"] == 1 and "403" in row["last_error"] and "blocked" in row["last_error"]
    assert d.run_once() == 0


def test_slack_routing_by_severity(store, tg) -> None:
    with FakeSlack() as slack:
        s = settings_for(tg, SLACK_WEBHOOK_URL=slack.hook_url("default"), SLACK_WEBHOOK_URL_P1=slack.hook_url("p1"))
        d = make_dispatcher(store, s)
        ingest(store, s, am_alert("A", "P1"), am_alert("B", "P2"), am_alert("C", "P0"))
        run_until(d, lambda: statuses(store)["sent"] == 5)  # P0: telegram only; P1/P2: telegram + slack
        assert "[P1] A fired" in slack.posts("p1")[0]["text"]
        assert "[P2] B" in slack.posts("default")[0]["text"] and len(slack.posts()) == 2


def test_storm_of_1000_every_alert_named_once_p0_first(store, tg) -> None:
    s = settings_for(tg, NOTIFY_NAME_BOUND="1000")
    d = make_dispatcher(store, s)
    alerts = [am_alert("RouteScoreLow", "P2", labels={"route": f"r{i:04d}"}) for i in range(997)]
    alerts += [am_alert("ExchangeFrozen", "P0", labels={"exchange": f"ex{i}"}) for i in range(3)]
    for i in range(0, 1000, 100):
        ingest(store, s, *alerts[i:i + 100])
    run_until(d, lambda: statuses(store)["pending"] + statuses(store)["sending"] == 0, timeout=60)
    assert statuses(store) == Counter({"sent": 1000})
    routes = naming_counts(tg, r"\br\d{4}\b")
    exchanges = naming_counts(tg, r"\bex\d\b")
    assert len(routes) == 997 and set(routes.values()) == {1}  # every alert named, none twice
    assert len(exchanges) == 3 and set(exchanges.values()) == {1}
    assert len(tg.messages) < 60  # packed, not one message per alert
    assert "ExchangeFrozen" in tg.messages[0].visible_text  # P0 first
    for m in tg.messages:
        assert len(m.visible_text.encode("utf-16-le")) // 2 <= 4096


def test_beyond_the_naming_bound_alerts_are_counted_not_dropped(store, tg) -> None:
    s = settings_for(tg, NOTIFY_NAME_BOUND="50")
    d = make_dispatcher(store, s)
    ingest(store, s, *[am_alert("RouteScoreLow", "P2", labels={"route": f"r{i:03d}"}) for i in range(120)])
    run_until(d, lambda: statuses(store)["pending"] + statuses(store)["sending"] == 0, timeout=30)
    st = statuses(store)
    assert st["sent"] + st["folded"] == 120 and st["folded"] == 70
    named = naming_counts(tg, r"\br\d{3}\b")
    assert len(named) == 50 and set(named.values()) == {1}
    assert "+70 more RouteScoreLow [P2]" in tg.messages[0].visible_text
    folded = [r for r in rows(store) if r["status"] == "folded"]
    assert {r["message_ref"] for r in folded} == {rows(store)[0]["message_ref"]}  # counted in that message


def test_a_long_alert_is_split_and_the_resolve_edits_the_first_part(store, tg) -> None:
    s = settings_for(tg)
    d = make_dispatcher(store, s)
    long = "evidence line " * 900  # ~12,600 characters: four messages
    [aid] = ingest(store, s, am_alert("GlobalDailyLoss", "P0", annotations={"evidence": long}))
    run_until(d, lambda: len(tg.messages) >= 4)
    assert all(len(m.visible_text.encode("utf-16-le")) // 2 <= 4096 for m in tg.messages)
    assert tg.messages[0].reply_markup is not None and all(m.reply_markup is None for m in tg.messages[1:])
    assert all(m.params.get("reply_parameters", {}).get("message_id") == 1 for m in tg.messages[1:])
    assert "".join(m.visible_text for m in tg.messages).count("evidence line") == 900  # nothing dropped
    ingest(store, s, am_alert("GlobalDailyLoss", "P0", annotations={"evidence": long}, status="resolved"))
    run_until(d, lambda: len(tg.edits) == 1)
    assert tg.edits[0]["message_id"] == 1 and "RESOLVED" in tg.edits[0]["text"]


def test_restart_with_full_outbox_delivers_everything_once(store, tg) -> None:
    s = settings_for(tg, TELEGRAM_CHAT_MIN_INTERVAL_SECONDS="0.5")
    first = make_dispatcher(store, s, worker_id="first").start()
    ingest(store, s, am_alert("ExchangeDown", "P1", labels={"exchange": "ex00"}))
    tg.wait_messages(1)
    first.stop()  # the process stops (it releases its lanes) ...
    for i in range(1, 30):  # ... and webhooks keep being stored while it is down: the outbox fills
        ingest(store, s, am_alert("ExchangeDown", "P1", labels={"exchange": f"ex{i:02d}"}))
    assert statuses(store)["pending"] == 29
    second = make_dispatcher(store, s, worker_id="second").start()
    try:
        wait_sent(store, 30, timeout=20)
    finally:
        second.stop()
    named = naming_counts(tg, r"\bex\d\d\b")
    assert len(named) == 30 and set(named.values()) == {1}
    assert statuses(store) == Counter({"sent": 30})
    assert len(tg.messages) == 2  # the first alone; the 29 that waited, packed into one message


def test_two_dispatchers_share_one_lane_and_telegram_limits_hold(store, tg) -> None:
    tg.enforce_limits(min_interval=0.2, per_minute=1000, global_per_second=30)
    s = settings_for(tg, TELEGRAM_CHAT_MIN_INTERVAL_SECONDS="0.25")
    a = make_dispatcher(store, s, worker_id="a").start()
    b = make_dispatcher(store, s, worker_id="b").start()
    try:
        for i in range(40):  # webhooks arriving over ~4 s at both
            ingest(store, s, am_alert("RouteSpread", "P2", labels={"route": f"r{i:02d}"}))
            time.sleep(0.1)
        wait_sent(store, 40, timeout=30)
    finally:
        a.stop()
        b.stop()
    named = naming_counts(tg, r"\br\d\d\b")
    assert len(named) == 40 and set(named.values()) == {1}
    assert tg.rate_limited == []  # one lane holder at a time: never two messages inside Telegram's interval
    workers = Counter(r["payload"].get("worker") for r in rows(store))
    assert set(workers) <= {"a", "b"}


def test_a_dead_holders_lane_is_taken_over_after_its_lease(store, tg) -> None:
    s = settings_for(tg, NOTIFY_LANE_LEASE_SECONDS="1.5")
    outbox = Outbox(store)
    from webhook_receiver.notify.lanes import LaneLeases
    from webhook_receiver.notify.outbox import Lane

    assert LaneLeases(store, "dead-process", 1.5).acquire(Lane("telegram", CHAT))  # then it is SIGKILLed
    ingest(store, s, am_alert("ExchangeFrozen", "P0", labels={"exchange": "upbit"}))
    d = make_dispatcher(store, s, worker_id="alive")
    assert d.run_once() == 0  # the lease still holds
    t0 = time.monotonic()
    run_until(d, lambda: len(tg.messages) == 1, timeout=10)
    assert 0.5 < time.monotonic() - t0 < 5
    assert outbox.list()[0]["status"] == "sent"


def test_ack_of_a_packed_alert_edits_the_packed_message(store, tg) -> None:
    s = settings_for(tg, NOTIFY_FULL_WITHIN_SECONDS="0")  # packed as soon as two wait
    d = make_dispatcher(store, s)
    ids = ingest(store, s, *[am_alert("ExchangeDown", "P1", labels={"exchange": f"ex{i}"}) for i in range(3)])
    run_until(d, lambda: len(tg.messages) == 1)
    packed = tg.messages[0]
    datas = [b["callback_data"] for row in packed.reply_markup["inline_keyboard"] for b in row]
    assert f"ack:{ids[0]}" in datas and any(x.startswith("pa:") for x in datas)
    from webhook_receiver.notify.actions import AlertActions

    actions = AlertActions(store, Outbox(store), build_channels(s))
    assert actions.acknowledge(ids[1], "kim").changed
    run_until(d, lambda: len(tg.edits) == 1)
    text = tg.find_message(CHAT, packed.message_id).visible_text
    assert "👤 kim" in text and text.count("👤") == 1


def test_slack_and_discord_rate_limits_are_honoured_and_storms_packed(store, tg) -> None:
    from tests.support.fakes import FakeDiscord

    with FakeSlack() as slack, FakeDiscord() as discord:
        # no minimum interval (a quick test): every lane could send all twelve at once, so they are
        # packed only when packing starts as soon as two wait
        s = settings_for(tg, SLACK_WEBHOOK_URL=slack.hook_url("default"), DISCORD_WEBHOOK_URL=discord.hook_url(),
                         NOTIFY_MAX_FAILURES="2", SLACK_MIN_INTERVAL_SECONDS="0", DISCORD_MIN_INTERVAL_SECONDS="0",
                         NOTIFY_FULL_WITHIN_SECONDS="0")
        d = make_dispatcher(store, s)
        slack.rate_limit(retry_after=1, times=3)  # Slack: Retry-After header
        discord.rate_limit(retry_after=0.4, times=3)  # Discord: retry_after in the JSON body
        t0 = time.monotonic()
        ingest(store, s, *[am_alert("ExchangeDown", "P1", labels={"exchange": f"ex{i:02d}"}) for i in range(12)])
        run_until(d, lambda: statuses(store)["pending"] + statuses(store)["sending"] == 0, timeout=30)
        assert time.monotonic() - t0 >= 2.9  # three Retry-After waits of 1 s on the Slack lane
        by_channel = Counter((r["channel"], r["status"]) for r in rows(store))
        assert by_channel == Counter({("telegram", "sent"): 12, ("slack", "sent"): 12, ("discord", "sent"): 12})
        assert all("failures" not in r["payload"] for r in rows(store))  # 429s are not failures
        # the fakes record the refused attempts too: four posts, one message naming all twelve
        posts = slack.posts("default")
        assert len(posts) == 4 and all(p == posts[0] for p in posts)
        assert all(f"ex{i:02d}" in str(posts[-1]["blocks"]) for i in range(12))
        embeds = discord.posts()
        assert len(embeds) == 4 and all(f"ex{i:02d}" in embeds[-1]["embeds"][0]["description"] for i in range(12))
