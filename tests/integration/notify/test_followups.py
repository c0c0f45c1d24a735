"""Reminders and escalation steps against the fake Bot API and a fake webhook, on SQLite and PostgreSQL.

The follow-up worker's clock is moved forward (`World.at(seconds)`), so a reminder due in a minute is
told now; everything else (the ingest that arms them, the actions that cancel and re-arm them, the
dispatcher that tells them) is the real code on a real database. The receiver process, Prometheus and
Alertmanager, restarts and two receivers are in tests/integration/test_ownership_stack.py.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import telegram_env
from tests.support.fakes import FakeSlack, FakeTelegram, Fault, SMTPServer, am_alert, am_payload
from tests.support.fakes.hook import FakeHook
from tests.support.waiting import until
from webhook_receiver.history.timeline import build_timeline
from webhook_receiver.notify.actions import AlertActions
from webhook_receiver.notify.channel_map import load_channel_map
from webhook_receiver.notify.channels.base import UsesChannelMap
from webhook_receiver.notify.dispatcher import Dispatcher
from webhook_receiver.notify.followups import FollowupPlanner, FollowupWorker
from webhook_receiver.notify.outbox import Outbox
from webhook_receiver.notify.planner import NotifyPlanner
from webhook_receiver.notify.service import build_channels
from webhook_receiver.notify.settings import load_notify_settings
from webhook_receiver.payload import parse_alertmanager_payload
from webhook_receiver.store import AlertStore, open_store

CHAT, ESC = "-1001", "-1002"
FAST = {"TELEGRAM_CHAT_MIN_INTERVAL_SECONDS": "0", "TELEGRAM_CHAT_PER_MINUTE": "10000",
        "TELEGRAM_GLOBAL_PER_SECOND": "0", "TELEGRAM_P0_RESERVE_PER_MINUTE": "0", "NOTIFY_BACKOFF_BASE_SECONDS": "0.05"}


def severities(p0: str = "1m", p1: str = "never") -> dict[str, Any]:
    return {"P0": {"channels": ["telegram"], "remind_every": p0},
            "P1": {"channels": ["telegram"], "remind_every": p1},
            "P2": {"channels": ["telegram"]}, "P3": {"channels": ["email"]}}


@dataclass(frozen=True)
class Person:
    name: str
    telegram_user_id: str | None
    email: str | None = None


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class World:
    """One receiver's notification pieces on `store`, routed by a channel map file."""

    def __init__(self, store: AlertStore, tg: FakeTelegram, tmp: Path, doc: dict[str, Any], oncall: Any = None,
                 env: dict[str, str] | None = None) -> None:
        path = tmp / f"map-{id(self)}.yml"
        path.write_text(yaml.safe_dump(doc))
        self.store = store
        self.tg = tg
        self.settings = load_notify_settings({**telegram_env(tg, CHAT), **FAST, "CHANNEL_MAP_FILE": str(path),
                                              **(env or {})})
        self.cmap = load_channel_map(path)
        self.channels = build_channels(self.settings)
        for ch in self.channels.values():
            if isinstance(ch, UsesChannelMap):
                ch.use_channel_map(self.cmap)
        self.outbox = Outbox(store)
        self.arming = FollowupPlanner(store, self.cmap)
        self.planner = NotifyPlanner(self.outbox, self.channels, self.cmap, followups=self.arming)
        self.shift = timedelta(0)
        self.worker = FollowupWorker(store, self.outbox, self.channels, self.cmap, oncall=oncall,
                                     now=lambda: datetime.now(UTC) + self.shift)
        self.dispatcher = Dispatcher(store, self.outbox, self.channels, self.settings, self.cmap)
        self.actions = AlertActions(store, self.outbox, self.channels, None, followups=self.arming)

    def ingest(self, *alerts: dict[str, Any]) -> list[int]:
        res = self.store.ingest(parse_alertmanager_payload(am_payload(*alerts, receiver="d76-p0")), self.planner)
        return [c.alert_id for c in res.changes]

    def deliver(self, done: Any, timeout: float = 20.0) -> None:
        def step() -> bool:
            self.dispatcher.run_once()
            return bool(done())
        until(step, timeout, 0.02, "delivery")

    def settle(self) -> None:
        """Deliver until nothing is due (what is told now is told)."""
        until(lambda: self.dispatcher.run_once() == 0 and not self.outbox.lanes_with_work(), 20, 0.02, "idle")

    def at(self, seconds: float) -> int:
        """The worker's clock `seconds` ahead of now: settle what is due by then."""
        self.shift = timedelta(seconds=seconds)
        return self.worker.run_once()

    def followups(self, alert_id: int) -> list[dict[str, Any]]:
        with self.store.transaction(write=False) as tx:
            return tx.fetchall("SELECT kind, chain, step, round, status, outcome FROM alert_followups "
                               "WHERE alert_id = %s ORDER BY id", (alert_id,))

    def alert(self, alert_id: int) -> dict[str, Any]:
        a = self.store.get_alert(alert_id)
        assert a is not None
        return a


def frozen(exchange: str = "upbit", severity: str = "P0") -> dict[str, Any]:
    return am_alert("ExchangeFrozen", severity, labels={"exchange": exchange}, starts_at=now_iso(),
                    annotations={"summary": f"{exchange} is FROZEN"})


def test_reminders_reply_to_the_page_say_which_and_stop_on_ack(store, tg, tmp_path) -> None:
    w = World(store, tg, tmp_path, {"severities": severities(p0="1m")})
    [aid] = w.ingest(frozen())
    w.deliver(lambda: len(tg.messages) == 1)
    page = tg.messages[0]
    assert w.at(30) == 0  # not due yet
    assert w.at(61) == 1
    w.deliver(lambda: len(tg.messages) == 2 and "🔁 1 reminder sent" in tg.find_message(CHAT, 1).visible_text)
    first = tg.messages[1]
    assert first.params["reply_parameters"]["message_id"] == page.message_id  # replies to the page
    assert not first.params.get("disable_notification")  # a new, loud message
    assert first.visible_text.startswith("🔁 Reminder 1 · firing") and "upbit is FROZEN" in first.visible_text
    assert first.reply_markup["inline_keyboard"][0][0]["callback_data"] == f"ack:{aid}"
    assert w.at(121) == 1
    w.deliver(lambda: len(tg.messages) == 3 and "🔁 2 reminders sent" in tg.find_message(CHAT, 1).visible_text)
    assert tg.messages[2].visible_text.startswith("🔁 Reminder 2 · firing 2m")

    assert w.actions.acknowledge(aid, "kim", "on it").changed
    w.deliver(lambda: "Acked by kim" in tg.find_message(CHAT, 1).visible_text)
    assert ": on it" in tg.find_message(CHAT, 1).visible_text
    # the reminders are edited too: they show the owner, and their Ack button is gone
    w.deliver(lambda: all("Acked by kim" in tg.find_message(CHAT, n).visible_text for n in (2, 3)))
    assert all(f"ack:{aid}" not in str(tg.find_message(CHAT, n).reply_markup) for n in (2, 3))
    assert w.at(3600) == 0  # the third reminder was cancelled by the acknowledgement
    w.settle()
    assert len(tg.messages) == 3
    assert [(f["kind"], f["step"], f["status"]) for f in w.followups(aid)] == [
        ("reminder", 1, "done"), ("reminder", 2, "done"), ("reminder", 3, "cancelled")]
    assert w.followups(aid)[-1]["outcome"] == "acknowledged by kim"
    t = build_timeline(store, aid)
    assert t is not None
    events = [(e["event"], e.get("reminder"), e.get("by")) for e in t["events"]]
    assert ("reminded", 1, None) in events and ("reminded", 2, None) in events
    assert ("acknowledged", None, "kim") in events


def test_several_due_at_once_are_packed_most_severe_first_every_alert_named(store, tg, tmp_path) -> None:
    w = World(store, tg, tmp_path, {"severities": severities(p0="1m", p1="1m")})
    p0 = [f"ex{n:02d}" for n in range(30)]
    p1 = [f"sl{n:02d}" for n in range(10)]
    w.ingest(*[frozen(e) for e in p0], *[frozen(e, "P1") for e in p1])
    w.settle()
    pages = len(tg.messages)
    assert w.at(61) == 40
    w.settle()
    reminders = [m for m in tg.messages[pages:] if m.visible_text.startswith("🔁")]
    assert 1 <= len(reminders) < 40  # packed
    assert all(m.visible_text.startswith("🔁 Reminder: ") for m in reminders)
    word_re = re.compile(r"\b(?:ex|sl)\d\d\b")
    named = [v for m in reminders for v in word_re.findall(m.visible_text)]
    assert sorted(named) == sorted(p0 + p1)  # every alert named, once
    order = [v[:2] for v in named]
    assert order == sorted(order, key=lambda x: x != "ex")  # P0 first
    ack_all = [b["callback_data"] for m in reminders for row in m.reply_markup["inline_keyboard"] for b in row
               if b["callback_data"].startswith("pa:")]
    assert len(ack_all) == len(reminders)  # Ack all, on each packed reminder
    acked = w.actions.acknowledge_message(int(ack_all[0].split(":")[1]), "kim")
    assert acked == len(word_re.findall(reminders[0].visible_text))  # every alert it named


def test_escalation_mentions_people_posts_the_webhook_and_is_in_the_timeline(store, tg, tmp_path) -> None:
    with FakeHook() as hook:
        doc = {"severities": severities(p0="never"), "escalation": [{"severities": ["P0"], "steps": [
            {"after": "10s", "telegram": {"chat": ESC, "mention": ["4242", "@alice", "oncall"]}},
            {"after": "20s", "webhook": {"url": hook.hook_url("call")}}]}]}
        w = World(store, tg, tmp_path, doc, oncall=lambda now: Person("bob", "777"))
        [aid] = w.ingest(frozen())
        w.deliver(lambda: len(tg.messages) == 1)
        assert w.at(5) == 0
        assert w.at(11) == 1
        w.deliver(lambda: any(m.chat_id == ESC for m in tg.messages))
        esc = next(m for m in tg.messages if m.chat_id == ESC)
        assert 'href="tg://user?id=4242"' in esc.text and 'href="tg://user?id=777">bob<' in esc.text
        assert "@alice" in esc.visible_text and esc.visible_text.startswith("⏫ Escalation step 1")
        assert "upbit is FROZEN" in esc.visible_text and not esc.params.get("disable_notification")
        assert esc.reply_markup["inline_keyboard"][0][0]["callback_data"] == f"ack:{aid}"

        hook.inject(Fault(status=503, times=1))  # retried like any channel
        assert w.at(21) == 1
        w.deliver(lambda: hook.posts("call"))
        [body] = hook.posts("call")
        assert body["version"] == "1" and body["kind"] == "escalation" and body["step"] == 2
        assert body["after_seconds"] == 20.0 and body["oncall"] == {"name": "bob", "telegram_user_id": "777",
                                                                     "email": None}
        [a] = body["alerts"]
        assert (a["id"], a["alertname"], a["severity"], a["status"], a["acknowledged"]) == (
            aid, "ExchangeFrozen", "P0", "firing", False)
        assert a["labels"]["exchange"] == "upbit" and a["firing_seconds"] >= 0
        assert len([r for r in hook.requests if r.method == "POST"]) == 2
    t = build_timeline(store, aid)
    assert t is not None
    escalated = [e for e in t["events"] if e["event"] == "escalated"]
    assert [e["to"] for e in escalated] == [f"{ESC} (4242, @alice, 777)", "webhook wh-" + escalated[1]["to"][11:]]
    assert w.alert(aid)["escalations_sent"] == 2


def test_an_acknowledged_alert_is_not_escalated_and_nobody_on_call_is_a_note(store, tg, tmp_path) -> None:
    doc = {"severities": severities(p0="never"), "escalation": [
        {"match": {"exchange": "binance"},
         "steps": [{"after": "10s", "telegram": {"chat": ESC, "mention": ["oncall"]}}]},
        {"severities": ["P0"], "steps": [{"after": "10s", "telegram": {"chat": ESC}}]}]}
    w = World(store, tg, tmp_path, doc)  # no on-call rotation: nobody is on call
    [owned, other] = w.ingest(frozen("upbit"), frozen("binance"))
    w.settle()
    w.actions.acknowledge(owned, "kim")
    assert w.at(11) == 1  # only the unacknowledged one (its chain: the first that matches)
    w.settle()
    [esc] = [m for m in tg.messages if m.chat_id == ESC]
    assert "binance" in esc.visible_text and "tg://user" not in esc.text
    assert [f["status"] for f in w.followups(owned)] == ["cancelled"]
    [f] = w.followups(other)
    assert f["chain"] == 0 and "nobody on call: the oncall mention was dropped" in f["outcome"]


def test_comments_are_kept_and_unack_arms_reminders_and_the_chain_again(store, tg, tmp_path) -> None:
    doc = {"severities": severities(p0="1m"), "escalation": [
        {"severities": ["P0"], "steps": [{"after": "30s", "telegram": {"chat": ESC}}]}]}
    w = World(store, tg, tmp_path, doc)
    [aid] = w.ingest(frozen())
    w.deliver(lambda: len(tg.messages) == 1)
    assert w.actions.acknowledge(aid, "kim", "looking").changed
    second = w.actions.acknowledge(aid, "lee", "db restarted")
    assert not second.changed and second.comment_added
    a = w.alert(aid)
    assert (a["acknowledged_by"], a["ack_comment"], a["last_comment"], a["last_comment_by"]) == (
        "kim", "looking", "db restarted", "lee")
    w.deliver(lambda: "💬 lee: db restarted" in tg.find_message(CHAT, 1).visible_text)
    page = tg.find_message(CHAT, 1)
    assert "Acked by kim" in page.visible_text
    assert page.reply_markup["inline_keyboard"][-1] == [{"text": "↩️ Unack", "callback_data": f"un:{aid}"}]
    assert w.at(120) == 0  # owned: nothing due

    assert w.actions.unacknowledge(aid, "kim", "handing over").changed
    assert not w.actions.unacknowledge(aid, "kim").changed  # already nobody's
    w.deliver(lambda: "Acked by" not in tg.find_message(CHAT, 1).visible_text)
    assert tg.find_message(CHAT, 1).reply_markup["inline_keyboard"][0][0]["callback_data"] == f"ack:{aid}"
    due = [(f["kind"], f["round"], f["status"]) for f in w.followups(aid) if f["status"] == "due"]
    assert sorted(due) == [("escalation", 1, "due"), ("reminder", 1, "due")]
    assert w.at(31) == 1  # the chain started over from the unack
    w.deliver(lambda: any(m.chat_id == ESC for m in tg.messages))
    assert w.at(61) == 1  # and the next reminder
    w.deliver(lambda: any(m.visible_text.startswith("🔁 Reminder 1") for m in tg.messages))
    t = build_timeline(store, aid)
    assert t is not None
    story = [(e["event"], e.get("by"), e.get("comment")) for e in t["events"]
             if e["event"] in ("acknowledged", "commented", "unacknowledged")]
    assert story == [("acknowledged", "kim", "looking"), ("commented", "lee", "db restarted"),
                     ("unacknowledged", "kim", "handing over")]
    assert w.actions.acknowledge(aid, "lee").changed  # taken again: edits queued again (a new event)
    w.deliver(lambda: "Acked by lee" in tg.find_message(CHAT, 1).visible_text)


def test_silenced_or_muted_alerts_wait_and_are_reminded_when_that_ends(store, tg, tmp_path) -> None:
    w = World(store, tg, tmp_path, {"severities": severities(p0="1m")})
    [silenced, muted, free] = w.ingest(frozen("upbit"), frozen("binance"), frozen("okx"))
    w.settle()
    pages = len(tg.messages)
    now = datetime.now(UTC)
    store.set_silence(silenced, "sil-1", now + timedelta(seconds=90))
    d = store.dialect
    binance = [{"name": "exchange", "value": "binance", "isRegex": False, "isEqual": True}]
    with store.transaction() as tx:  # a /mute maintenance window on binance, as `actions.mute` records it
        tx.execute("INSERT INTO maintenance_windows (silence_id, matchers, created_by, reason, starts_at, ends_at) "
                   "VALUES (%s, %s, %s, %s, %s, %s)",
                   ("sil-2", d.json_in(binance), "kim", "maintenance", d.time_in(now - timedelta(seconds=5)),
                    d.time_in(now + timedelta(seconds=80))))
    assert w.at(61) == 3
    w.settle()
    told = [m.visible_text for m in tg.messages[pages:] if m.visible_text.startswith("🔁")]
    assert len(told) == 1 and "okx" in told[0]
    [held] = [f for f in w.followups(silenced) if f["status"] == "due"]
    assert held["outcome"].startswith("waiting: silenced until")
    assert [f["outcome"] for f in w.followups(muted)][0].startswith("waiting: muted by maintenance window #")
    assert w.at(95) == 2  # both ended: reminded now (okx: its second reminder is due at 2m)
    w.settle()
    told = [m.visible_text for m in tg.messages[pages:] if m.visible_text.startswith("🔁")]
    assert any("upbit" in t for t in told[1:]) and any("binance" in t for t in told[1:])


def test_a_resolve_cancels_what_was_due(store, tg, tmp_path) -> None:
    w = World(store, tg, tmp_path, {"severities": severities(p0="1m"), "escalation": [
        {"steps": [{"after": "10s", "telegram": True}]}]})
    alert = frozen()
    [aid] = w.ingest(alert)
    w.settle()
    w.ingest({**alert, "status": "resolved", "endsAt": now_iso()})
    w.settle()
    assert w.at(61) == 2
    w.settle()
    assert not [m for m in tg.messages if m.visible_text.startswith(("🔁", "⏫"))]
    assert {(f["kind"], f["status"], f["outcome"]) for f in w.followups(aid)} == {
        ("reminder", "cancelled", "resolved"), ("escalation", "cancelled", "resolved")}


def test_two_receivers_claim_each_follow_up_once(pg_url, tg, tmp_path) -> None:
    stores = [open_store(pg_url), open_store(pg_url)]
    try:
        stores[0].migrate()
        doc = {"severities": severities(p0="1m"), "escalation": [{"steps": [{"after": "30s", "telegram": True}]}]}
        a, b = World(stores[0], tg, tmp_path, doc), World(stores[1], tg, tmp_path, doc)
        ids = a.ingest(*[frozen(f"x{n:03d}") for n in range(200)])
        a.settle()
        counts = [0, 0]

        def drain(n: int, world: World) -> None:
            world.shift = timedelta(seconds=61)
            for _ in range(200):
                got = world.worker.run_once()
                counts[n] += got
                if got == 0:
                    break

        threads = [threading.Thread(target=drain, args=(n, w)) for n, w in enumerate((a, b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sum(counts) == 400  # 200 reminders and 200 escalation steps, each settled by one of them
        with stores[0].transaction(write=False) as tx:
            sent = tx.fetchall("SELECT reminders_sent AS r, escalations_sent AS e, count(*) AS n FROM alerts "
                               "GROUP BY reminders_sent, escalations_sent")
            queued = tx.fetchone("SELECT count(*) AS n FROM notifications WHERE kind IN ('reminder', 'escalation')")
            nxt = tx.fetchone("SELECT count(*) AS n FROM alert_followups WHERE kind = 'reminder' AND step = 2")
        assert [(r["r"], r["e"], r["n"]) for r in sent] == [(1, 1, len(ids))]
        assert queued is not None and queued["n"] == 400
        assert nxt is not None and nxt["n"] == 200
    finally:
        for s in stores:
            s.close()


@pytest.mark.parametrize("bad,key", [
    ({"severities": {"P0": {"channels": ["telegram"], "remind_every": "1s"}}}, "severities.P0.remind_every"),
    ({"severities": {"P0": {"channels": ["telegram"]}}, "escalation": [{"steps": [{"after": "5m"}]}]},
     "escalation[0].steps[0]: says where to tell"),
])
def test_a_bad_channel_map_names_the_key(tmp_path, bad, key) -> None:
    path = tmp_path / "map.yml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match=re.escape(key)):
        load_channel_map(path)


def test_a_resolve_edits_the_reminder_and_escalation_messages_too(store, tg, tmp_path) -> None:
    w = World(store, tg, tmp_path, {"severities": severities(p0="1m"), "escalation": [
        {"steps": [{"after": "10s", "telegram": {"chat": ESC, "mention": ["4242"]}}]}]})
    alert = frozen()
    w.ingest(alert)
    w.settle()
    assert w.at(61) == 2
    w.settle()
    esc = next(m for m in tg.messages if m.chat_id == ESC)
    reminder = next(m for m in tg.messages if m.visible_text.startswith("🔁 Reminder 1"))
    w.ingest({**alert, "status": "resolved", "endsAt": now_iso()})
    w.deliver(lambda: all(tg.find_message(m.chat_id, m.message_id).visible_text.startswith("✅ RESOLVED")
                          for m in (tg.messages[0], esc, reminder)))
    assert tg.find_message(ESC, esc.message_id).reply_markup == {"inline_keyboard": []}


def test_an_escalation_step_to_slack_and_email(store, tg, tmp_path) -> None:
    with FakeSlack() as slack, SMTPServer() as smtp:
        env = {"SLACK_WEBHOOK_URL": slack.hook_url("oncall"), "SMTP_HOST": smtp.host, "SMTP_PORT": str(smtp.port),
               "ALERT_EMAIL_FROM": "d76@example.com", "ALERT_EMAIL_TO": "team@example.com",
               "SLACK_MIN_INTERVAL_SECONDS": "0"}
        doc = {"severities": severities(p0="never"), "escalation": [{"steps": [
            {"after": "10s", "slack": True, "email": {"to": ["oncall@example.com"]}}]}]}
        w = World(store, tg, tmp_path, doc, env=env)
        [aid] = w.ingest(frozen())
        w.settle()
        assert w.at(11) == 1
        w.settle()
        # (Slack, configured but not in this map, also follows the pager's severities: it got the page too)
        [post] = [p for p in slack.posts("oncall") if p["text"].startswith("⏫")]
        assert post["text"] == "⏫ Escalation: [P0] upbit is FROZEN — nobody has acknowledged it"
        [mail] = smtp.wait_messages(1)
        assert mail.rcpt_tos == ["oncall@example.com"]
        assert mail.message["Subject"] == "[D76] escalation: [P0] upbit is FROZEN (nobody has acknowledged it)"
        body = mail.message.get_content()
        assert f"#{aid}" in body and "exchange=upbit" in body
        [f] = w.followups(aid)
        assert f["outcome"] == "escalated to email oncall@example.com; slack default"
