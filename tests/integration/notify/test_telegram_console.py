"""The operator's console in Telegram, end to end: the real receiver process (`d76 receiver`) long
polls the fake Bot API, a real Alertmanager posts to it and takes its silences, a real Prometheus
answers the graphs' range queries. The fake enforces Telegram's limits (429 past them) and every
test checks that nothing was refused.

Covered: setMyCommands at start; /help, /status, /alerts (paged, buttons edit the answer), /ack,
/silences, /unsilence, /mute (a silence matching only that exchange: a P0 of another still pages, the
muted one is listed as muted), /unmute; the refusal for an unknown user; a command through the
webhook; routing of a P0 to the on-call group and of P1/P2 to their exchange's forum topic (P2
quiet); the graph sent as a reply to its page, and its absence (text still delivered, failure
counted) when Prometheus is down.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
import yaml

from catalog.build import build_catalog
from catalog.render_alertmanager import render_channel_map
from local_stack.processes import ManagedProcess, free_port, start_alertmanager, start_prometheus
from tests.conftest import start_receiver
from tests.support.fakes import FakeTelegram, SentMessage
from tests.support.fakes.payloads import am_alert, am_payload
from tests.support.fakes.telegram import check_png

TOKEN = "console-test-token"
MAIN, ONCALL = "-1001", "-1002"
OPERATOR, STRANGER = 4242, 999
# Telegram allows 20 messages a minute in a group (the fake enforces it): the tests spread their
# commands over the groups and the operator's private chat with the bot
DM = str(OPERATOR)
SECRET = "webhook-secret-42"
GRAPH_EXPR = 'prometheus_tsdb_head_series{job="prometheus"} > 1'


class Console:
    """One receiver with everything around it; helpers to talk to it as the operator would."""

    def __init__(self, tg: FakeTelegram, receiver: str, alertmanager: str, prometheus: str, topics: dict[str, int],
                 db: Path, proc: ManagedProcess) -> None:
        self.tg, self.receiver, self.am, self.prom, self.topics, self.db, self.proc = (
            tg, receiver, alertmanager, prometheus, topics, db, proc)

    def command(self, text: str, *, chat: str = MAIN, user: int = OPERATOR, thread: int | None = None,
                timeout: float = 15.0) -> SentMessage:
        """Type a command as the operator (in a group, or in a private chat with the bot when `chat`
        is the operator's own id) and wait for the bot's reply to it."""
        private = chat == str(user)
        msg = self.tg.send_command(text, chat_id=chat, user_id=user, username="kim" if user == OPERATOR else "eve",
                                   thread_id=thread, chat_type="private" if private else "supergroup")
        return self.tg.wait_reply(chat, msg["message_id"], timeout)

    def post(self, *alerts: dict[str, Any]) -> None:
        r = requests.post(f"{self.receiver}/webhook/alertmanager", json=am_payload(*alerts),
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert r.status_code == 200, r.text

    def api(self, path: str) -> Any:
        r = requests.get(f"{self.receiver}{path}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        r.raise_for_status()
        return r.json()

    def metric(self, name: str, **labels: str) -> float:
        text = requests.get(f"{self.receiver}/metrics", timeout=10).text
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for line in text.splitlines():
            if line.startswith(f"{name}{{{want}}}" if want else f"{name} "):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name}{{{want}}} not exposed")

    def messages(self, chat: str) -> list[SentMessage]:
        return [m for m in self.tg.messages if m.chat_id == chat]


def graph_alert(name: str, sev: str, exchange: str, **kw: Any) -> dict[str, Any]:
    a = am_alert(name, sev, labels={"exchange": exchange, **kw.pop("labels", {})},
                 annotations={"threshold": "1", "value": "42 series", **kw.pop("annotations", {})}, **kw)
    a["generatorURL"] = f"http://127.0.0.1:9090/graph?g0.expr={quote(GRAPH_EXPR)}&g0.tab=1"
    return a


def _prometheus(tmp: Path) -> tuple[ManagedProcess, str]:
    port = free_port()
    cfg = tmp / "prometheus.yml"
    cfg.write_text(f"global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n"
                   f"  - job_name: prometheus\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n")
    proc = start_prometheus(cfg, port, tmp / "prom-data", tmp / "prom.log")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # a sample of the graphed series exists
        r = requests.get(f"{url}/api/v1/query", params={"query": GRAPH_EXPR}, timeout=5).json()
        if r["data"]["result"]:
            break
        time.sleep(0.3)
    return proc, url


def _alertmanager(tmp: Path, receiver_url: str) -> tuple[ManagedProcess, str]:
    token_file = tmp / "receiver_token"
    token_file.write_text(TOKEN)
    cfg = tmp / "alertmanager.yml"
    cfg.write_text(yaml.safe_dump({
        "route": {"receiver": "d76", "group_by": ["alertname", "exchange"], "group_wait": "0s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "d76", "webhook_configs": [{
            "url": f"{receiver_url}/webhook/alertmanager", "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer", "credentials_file": str(token_file)}}}]}]}))
    port = free_port()
    return start_alertmanager(cfg, port, tmp / "am-data", tmp / "am.log"), f"http://127.0.0.1:{port}"


def _channel_map(tmp: Path, topics: dict[str, int]) -> Path:
    """Written the way an operator would: catalog overrides -> `d76 generate`'s channel map."""
    catalog = build_catalog({"policy": {"telegram": {"routes": [
        {"severities": ["P0"], "chat": ONCALL},
        {"severities": ["P1", "P2"], "topic_label": "exchange", "topics": topics}]}}})
    path = tmp / "channel_map.yml"
    path.write_text(render_channel_map(catalog))
    return path


def _receiver(tmp: Path, tg: FakeTelegram, port: int, am_url: str, prom_url: str, cmap: Path,
              name: str = "receiver") -> tuple[ManagedProcess, Path]:
    db = tmp / f"{name}.sqlite3"
    env = {"DATABASE_URL": f"sqlite:///{db}", "RECEIVER_TOKEN": TOKEN,
           "NOTIFICATIONS_ENABLED": "true", "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_CHAT_ID": MAIN,
           "TELEGRAM_API_URL": tg.api_url, "TELEGRAM_ALLOWED_USER_IDS": str(OPERATOR), "TELEGRAM_POLLING": "true",
           "TELEGRAM_POLL_TIMEOUT": "1", "TELEGRAM_WEBHOOK_SECRET": SECRET, "ALERTMANAGER_URL": am_url,
           "PROMETHEUS_URL": prom_url, "CHANNEL_MAP_FILE": str(cmap), "NOTIFY_POLL_SECONDS": "0.05",
           "DEADMAN_ENABLED": "false"}
    proc, _ = start_receiver(tmp / f"{name}.log", env, port=port, threads=4, name=name)
    return proc, db


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("console")
    tmp.chmod(0o755)
    started: list[Any] = []
    tg = FakeTelegram().start()
    started.append(tg)
    tg.enforce_limits(min_interval=1.0, per_minute=20, global_per_second=30)
    topics = {"upbit": tg.create_topic(MAIN), "binance": tg.create_topic(MAIN)}
    try:
        prom, prom_url = _prometheus(tmp)
        started.append(prom)
        port = free_port()
        am, am_url = _alertmanager(tmp, f"http://127.0.0.1:{port}")
        started.append(am)
        proc, db = _receiver(tmp, tg, port, am_url, prom_url, _channel_map(tmp, topics))
        started.append(proc)
        tg.wait_for(lambda: tg.commands is not None, 15)
        yield Console(tg, f"http://127.0.0.1:{port}", am_url, prom_url, topics, db, proc)
    finally:
        for s in reversed(started):
            s.stop()


@pytest.fixture(autouse=True)
def within_limits(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "console" in request.fixturenames:
        tg = request.getfixturevalue("console").tg
        assert tg.rate_limited == [], f"calls past Telegram's limits: {tg.rate_limited}"


def test_commands_registered_and_help(console: Console) -> None:
    names = [c["command"] for c in console.tg.commands or []]
    assert names == ["status", "alerts", "ack", "silences", "unsilence", "mute", "unmute", "oncall", "help"]
    reply = console.command("/help@d76_test_bot")  # group style, addressed to this bot
    assert "/mute exchange=upbit 2h" in reply.visible_text and "/ack ID" in reply.visible_text
    # addressed to another bot in the group: not ours, no answer
    other = console.tg.send_command("/help@someone_else_bot", chat_id=MAIN, user_id=OPERATOR)
    reply2 = console.command("/help")
    assert not console.tg.replies_to(MAIN, other["message_id"]) and reply2.message_id > reply.message_id


def test_status_shows_the_pipeline(console: Console) -> None:
    console.post(am_alert("Watchdog", None, labels={}, source="system"))
    console.post(am_alert("RateLimitLow", "P2", labels={"exchange": "kraken", "category": "order"}))
    text = console.command("/status").visible_text
    assert "✅ Prometheus: ready · 1/1 targets up" in text
    assert "✅ Alertmanager: v0.25" in text
    assert "✅ Receiver: up" in text and "storage ok (sqlite)" in text
    assert "✅ Watchdog: last" in text
    assert "Outbox:" in text
    assert "Firing: 1 (P0 0 · P1 0 · P2 1 · P3 0)" in text


def test_unknown_user_is_refused_politely(console: Console) -> None:
    before = console.api("/api/alerts?limit=500")["alerts"]
    reply = console.command("/mute exchange=upbit 2h", user=STRANGER)
    assert reply.visible_text.startswith("Sorry, this bot only takes commands from its operators")
    assert str(STRANGER) in reply.visible_text
    second = console.tg.send_command("/status", chat_id=MAIN, user_id=STRANGER)
    console.command("/help")  # the operator's next command is answered; the stranger's second try is not
    assert not console.tg.replies_to(MAIN, second["message_id"])
    assert requests.get(f"{console.am}/api/v2/silences", timeout=5).json() == []
    assert console.api("/api/alerts?limit=500")["alerts"] == before
    # a private chat with the bot: only for a user named in TELEGRAM_ALLOWED_USER_IDS
    dm = console.tg.send_command("/status", chat_id=STRANGER, user_id=STRANGER, chat_type="private")
    assert console.tg.wait_reply(STRANGER, dm["message_id"]).visible_text.startswith("Sorry")
    mine = console.tg.send_command("/help", chat_id=OPERATOR, user_id=OPERATOR, chat_type="private")
    assert "/status" in console.tg.wait_reply(OPERATOR, mine["message_id"]).visible_text


def test_routing_to_oncall_and_exchange_topics_with_graphs(console: Console) -> None:
    tg = console.tg
    console.post(graph_alert("ExchangeFrozen", "P0", "bybit"))
    page = tg.wait_for(lambda: next((m for m in console.messages(ONCALL) if "ExchangeFrozen" in m.text), None), 15)
    assert "message_thread_id" not in page.params and not page.params.get("disable_notification")
    photo = tg.wait_for(lambda: next((p for p in tg.photos if p.reply_to == page.message_id
                                      and p.chat_id == ONCALL), None), 20)
    assert check_png(photo.png) == (800, 360)
    assert "ExchangeFrozen" in photo.caption and "threshold 1" in photo.caption
    assert photo.params.get("disable_notification") is True  # the page rang; its graph does not

    console.post(graph_alert("ExchangeDown", "P1", "upbit"))
    p1 = tg.wait_for(lambda: next((m for m in console.messages(MAIN) if "ExchangeDown" in m.text), None), 15)
    assert p1.params["message_thread_id"] == console.topics["upbit"]
    assert not p1.params.get("disable_notification")  # P1 is loud
    p1_graph = tg.wait_for(lambda: next((p for p in tg.photos if p.reply_to == p1.message_id), None), 20)
    assert p1_graph.params["message_thread_id"] == console.topics["upbit"]

    console.post(am_alert("ExchangeDegraded", "P2", labels={"exchange": "binance"}))
    p2 = tg.wait_for(lambda: next((m for m in console.messages(MAIN) if "ExchangeDegraded" in m.text), None), 15)
    assert p2.params["message_thread_id"] == console.topics["binance"] and p2.params["disable_notification"] is True
    time.sleep(1.5)
    assert not [p for p in tg.photos if p.reply_to == p2.message_id]  # P2: no graph


def test_alerts_paged_then_ack(console: Console) -> None:
    routes = [f"r{i:02d}-x-BTC" for i in range(12)]
    console.post(*[am_alert("RouteScoreLow", "P2", source="arb_route", labels={"route": r}) for r in routes])
    reply = console.command("/alerts P2 P3", chat=DM)
    text = reply.visible_text
    assert "page 1/2" in text and text.count("RouteScoreLow") == 10
    assert [b["callback_data"] for b in reply.reply_markup["inline_keyboard"][0]] == ["ap:2"]
    n_edits = len(console.tg.edits)
    console.tg.press_button("ap:2", chat_id=DM, message_id=reply.message_id, user_id=OPERATOR)
    console.tg.wait_edits(n_edits + 1, 15)
    page2 = console.tg.find_message(DM, reply.message_id)
    assert "page 2/2" in page2.visible_text and [
        b["callback_data"] for b in page2.reply_markup["inline_keyboard"][0]
    ] == ["ap:1"]
    assert console.tg.wait_callback_answers(1)[-1]["text"] == "Page 2"

    only = console.command("/alerts route=r03-x-BTC", chat=DM).visible_text
    assert "1 firing" in only and "r03-x-BTC" in only and "r04-x-BTC" not in only
    alert_id = next(a["id"] for a in console.api("/api/alerts?limit=500")["alerts"]
                    if a["labels"].get("route") == "r03-x-BTC")
    ack = console.command(f"/ack {alert_id} looking at the route scorer", chat=DM).visible_text
    assert ack.startswith(f"✅ Acknowledged #{alert_id} RouteScoreLow")
    got = console.api(f"/api/alerts/{alert_id}")["alert"]
    assert got["acknowledged_by"] == "telegram:kim" and got["ack_comment"] == "looking at the route scorer"
    assert "already acknowledged by telegram:kim" in console.command(f"/ack {alert_id}", chat=DM).visible_text
    assert "👤 telegram:kim" in console.command("/alerts route=r03-x-BTC", chat=DM).visible_text
    assert "No alert #999999" in console.command("/ack 999999", chat=DM).visible_text
    assert "Usage: /ack ID" in console.command("/ack", chat=DM).visible_text


def test_mute_silences_only_that_exchange(console: Console) -> None:
    tg = console.tg
    reply = console.command("/mute exchange=upbit 2h exchange maintenance", chat=ONCALL).visible_text
    assert "Maintenance window #1" in reply and "exchange=upbit" in reply and "exchange maintenance" in reply
    silences = [s for s in requests.get(f"{console.am}/api/v2/silences", timeout=5).json()
                if s["status"]["state"] == "active"]
    [sil] = silences
    assert sil["matchers"] == [{"name": "exchange", "value": "upbit", "isRegex": False, "isEqual": True}]
    assert sil["createdBy"] == "telegram:kim" and "exchange maintenance" in sil["comment"]

    # P0s for both exchanges reach Alertmanager: only binance's pages
    push = [{"labels": {"alertname": "ExchangeOrderbookStale", "severity": "P0", "source": "exchange_health",
                        "exchange": ex}, "annotations": {"summary": f"{ex} orderbook stale"},
             "generatorURL": "http://127.0.0.1:9090/graph"} for ex in ("upbit", "binance")]
    assert requests.post(f"{console.am}/api/v2/alerts", json=push, timeout=5).status_code == 200
    tg.wait_for(lambda: any("ExchangeOrderbookStale" in m.text and "binance" in m.text
                            for m in console.messages(ONCALL)), 20)
    time.sleep(2.5)  # Alertmanager flushes groups every second: upbit's would have come by now
    assert not [m for m in tg.messages if "ExchangeOrderbookStale" in m.text and "upbit" in m.text]

    listed = console.command("/alerts P0", chat=ONCALL).visible_text
    upbit_line = next(line for line in listed.splitlines() if "ExchangeOrderbookStale" in line and "upbit" in line)
    assert "muted (mute #1)" in upbit_line
    binance_line = next(line for line in listed.splitlines() if "ExchangeOrderbookStale" in line and "binance" in line)
    assert "muted" not in binance_line
    assert "1 muted" in console.command("/status", chat=ONCALL).visible_text

    sils = console.command("/silences", chat=ONCALL)
    assert "maintenance #1" in sils.visible_text and sil["id"][:8] in sils.visible_text
    assert sils.reply_markup["inline_keyboard"][0][0]["callback_data"] == f"us:{sil['id']}"

    ended = console.command("/unmute", chat=ONCALL).visible_text
    assert "Maintenance window #1" in ended and "ended by telegram:kim" in ended
    state = requests.get(f"{console.am}/api/v2/silence/{sil['id']}", timeout=5).json()["status"]["state"]
    assert state == "expired"
    assert "no maintenance window is open" in console.command("/unmute", chat=ONCALL).visible_text

    from webhook_receiver.store import open_store

    store = open_store(f"sqlite:///{console.db}")
    try:
        with store.transaction(write=False) as tx:
            [row] = tx.fetchall("SELECT * FROM maintenance_windows")
    finally:
        store.close()
    assert row["created_by"] == "telegram:kim" and row["reason"] == "exchange maintenance"
    assert row["ended_by"] == "telegram:kim" and row["silence_id"] == sil["id"]


def test_unsilence_by_prefix_and_by_button(console: Console) -> None:
    def silence(route: str) -> str:
        body = {"matchers": [{"name": "route", "value": route, "isRegex": False, "isEqual": True}],
                "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z", "createdBy": "ops",
                "comment": "by hand"}
        return requests.post(f"{console.am}/api/v2/silences", json=body, timeout=5).json()["silenceID"]

    first, second = silence("a-b-ETH"), silence("a-b-XRP")
    reply = console.command(f"/unsilence {first[:8]}").visible_text
    assert f"Ended silence {first[:8]}" in reply
    assert requests.get(f"{console.am}/api/v2/silence/{first}", timeout=5).json()["status"]["state"] == "expired"
    assert "no active silence" in console.command(f"/unsilence {first[:8]}").visible_text
    sils = console.command("/silences")
    n = len(console.tg.callback_answers)
    console.tg.press_button(f"us:{second}", chat_id=MAIN, message_id=sils.message_id, user_id=OPERATOR)
    assert console.tg.wait_callback_answers(n + 1)[-1]["text"] == "Done"
    assert requests.get(f"{console.am}/api/v2/silence/{second}", timeout=5).json()["status"]["state"] == "expired"


def test_command_through_the_webhook(console: Console) -> None:
    update = console.tg.make_command_update("/alerts P0", chat_id=ONCALL, user_id=OPERATOR, username="kim")
    update["update_id"] = 77
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    assert requests.post(f"{console.receiver}/telegram/webhook", json=update, headers=headers,
                         timeout=10).status_code == 200
    # Telegram retries an update it got no 200 for: the same update answers once
    assert requests.post(f"{console.receiver}/telegram/webhook", json=update, headers=headers,
                         timeout=10).status_code == 200
    reply = console.tg.wait_reply(ONCALL, update["message"]["message_id"])
    assert "firing" in reply.visible_text
    time.sleep(1.5)
    assert len(console.tg.replies_to(ONCALL, update["message"]["message_id"])) == 1
    bad = dict(update, update_id=78)
    assert requests.post(f"{console.receiver}/telegram/webhook", json=bad,
                         headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}, timeout=10).status_code == 401


def test_graph_absent_when_prometheus_is_down(tmp_path: Path) -> None:
    """The page goes out; its graph is skipped and counted; nothing waits for Prometheus."""
    tmp_path.chmod(0o755)
    with FakeTelegram() as tg:
        tg.enforce_limits()
        port = free_port()
        dead_prometheus = f"http://127.0.0.1:{free_port()}"
        am = f"http://127.0.0.1:{free_port()}"  # not needed here: nothing is silenced
        proc, _ = _receiver(
            tmp_path,
            tg,
            port,
            am,
            dead_prometheus,
            _channel_map(tmp_path, {"upbit": tg.create_topic(MAIN)}),
            name="receiver-noprom",
        )
        try:
            c = Console(tg, f"http://127.0.0.1:{port}", am, dead_prometheus, {}, tmp_path / "x", proc)
            t0 = time.monotonic()
            c.post(graph_alert("ExchangeFrozen", "P0", "okx"))
            page = tg.wait_for(lambda: next((m for m in c.messages(ONCALL) if "ExchangeFrozen" in m.text), None), 15)
            assert time.monotonic() - t0 < 5
            deadline = time.monotonic() + 10
            while c.metric("d76_notifications_graph_failures_total", reason="prometheus") < 1:
                assert time.monotonic() < deadline, "the graph failure was not counted"
                time.sleep(0.2)
            assert not tg.photos and page.message_id == 1
            status = c.command("/status", chat=ONCALL).visible_text
            assert "❌ Prometheus: unreachable" in status and "❌ Alertmanager: unreachable" in status
            assert tg.rate_limited == []
        finally:
            proc.stop()


def test_maintenance_windows_and_answers_on_postgresql(pg_url: str, alertmanager_factory, tmp_path: Path) -> None:
    """The new tables and queries on PostgreSQL: a window opened, ended by /unsilence of its silence,
    the covered alert's message refreshed; an answer found by its message; a graph row's life."""
    import json
    from datetime import datetime, timedelta

    from webhook_receiver.alertmanager_api import AlertmanagerClient
    from webhook_receiver.notify.actions import AlertActions
    from webhook_receiver.notify.outbox import Lane, Outbox
    from webhook_receiver.payload import parse_alertmanager_payload
    from webhook_receiver.store import open_store
    from webhook_receiver.store.base import AlertQuery

    cfg = tmp_path / "am.yml"
    cfg.write_text("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n")
    _, am_url = alertmanager_factory(cfg)
    store = open_store(pg_url)
    try:
        store.migrate()
        outbox = Outbox(store)
        actions = AlertActions(store, outbox, {}, AlertmanagerClient(am_url))
        store.ingest(parse_alertmanager_payload(json.dumps(am_payload(
            am_alert("ExchangeDown", "P1", labels={"exchange": "upbit"}))).encode()))
        mute = actions.mute([{"name": "exchange", "value": "upbit", "isRegex": False, "isEqual": True}],
                            timedelta(hours=2), "telegram:kim", "upgrade")
        assert [m.id for m in actions.mutes()] == [mute.id] and mute.scope() == "exchange=upbit"
        with store.transaction() as tx:  # the alert was silenced by that window (as the button does)
            tx.execute("UPDATE alerts SET silence_id = %s, silenced_until = %s", (mute.silence_id, mute.ends_at))
        sil, ended = actions.unsilence(mute.silence_id[:8], "telegram:lee")
        assert sil["id"] == mute.silence_id and ended is not None and ended.ended_by == "telegram:lee"
        assert actions.mutes() == [] and actions.get_mute(mute.id).ended_at is not None
        [alert] = store.list_alerts(AlertQuery())
        assert alert["silenced_until"] <= datetime.now(UTC)

        lane = Lane("telegram", MAIN)
        outbox.enqueue_now([{"channel": "telegram", "destination": MAIN, "kind": "reply", "dedupe_key": "reply:x",
                             "payload": {"text": "hi", "query": {"severities": ["P0"], "matchers": []}}}])
        [row] = outbox.due(lane)
        outbox.complete([row["id"]], "sent", remote_id="55", destination=MAIN)
        assert outbox.reply_payload(MAIN, "55")["query"] == {"severities": ["P0"], "matchers": []}
        assert outbox.reply_payload(MAIN, "56") is None

        outbox.enqueue_now([{"channel": "telegram", "destination": MAIN, "kind": "graph", "status": "rendering",
                             "alert_id": alert["id"], "dedupe_key": "g", "payload": {"reply_to": "55"}}])
        assert outbox.due(lane) == []  # invisible to the lane while rendering
        [claimed] = outbox.claim_renders("w1", 30)
        assert outbox.claim_renders("w2", 30) == []  # leased
        outbox.graph_ready(claimed["id"], b"\x89PNG...", "caption")
        [ready] = outbox.due(lane)
        assert ready["kind"] == "graph" and ready["payload"]["caption"] == "caption"
        outbox.drop_payload_keys([ready["id"]], ["png"])
        assert "png" not in outbox.list(kind="graph")[0]["payload"]
    finally:
        store.close()
