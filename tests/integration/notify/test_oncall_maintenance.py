"""On call and recurring maintenance windows through a receiver served on loopback, a real Alertmanager
0.25 running the catalog's config (a window open now for exchange=upbit) and the fake Bot API taking
commands by long polling:

- upbit's P0 is muted (no message); the reconciler stores it with a `muted` episode naming the window
  (history, timeline); binance's P0 pages, mentioning who is on call (a `tg://user` link rings them);
- `/status` and `/mute` list the windows with their next occurrence; `/oncall` says now and next;
- `/oncall take 4h` by an allowed user who is one of the people makes them the one mentioned next;
  refused for a user not allowed, and for an allowed user who is not one of the people;
- the API (`/api/oncall`, `/api/oncall/take`, 400s naming the key) and `d76 oncall`;
- a silence that runs out while its alert still fires is told once, with the count.
"""
from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from catalog import build_catalog, render_alertmanager_config, render_channel_map
from local_stack.processes import free_port, start_alertmanager
from tests.support.fakes import FakeTelegram
from tests.support.history import AM, ServedApp, now, wait_for
from tests.support.paths import REPO
from tests.support.schedules import closed_window, oncall_from_now, open_window
from webhook_receiver.app import create_app
from webhook_receiver.history.timeline import build_timeline
from webhook_receiver.settings import load_settings
from webhook_receiver.store import AlertQuery

CHAT = "-1001"
ALICE, BOB, STRANGER, NOT_ONCALL = 4242, 77, 99, 55


def policy() -> dict:
    """Made when the module's receiver starts (not at import: a parallel run may start it much later)."""
    people = {"alice": {"telegram": str(ALICE), "email": "alice@example.com"}, "bob": {"telegram": "@bob"}}
    return {"oncall": oncall_from_now(["alice", "bob"], people),
            "maintenance": [open_window("upbit-now", {"exchange": "upbit"}),
                            closed_window("binance-later", {"exchange": "binance"})]}


class World:
    def __init__(self, app: Any, am: AM, tg: FakeTelegram, url: str) -> None:
        self.app, self.am, self.tg, self.url = app, am, tg, url
        self.store = app.extensions["d76_receiver"].store
        self.client = app.test_client()

    def command(self, text: str, user_id: int = ALICE, username: str = "alice") -> str:
        msg = self.tg.send_command(text, chat_id=CHAT, user_id=user_id, username=username)
        return self.tg.wait_reply(CHAT, msg["message_id"], timeout=15).visible_text

    def page(self, exchange: str, after: int) -> Any:
        return self.tg.wait_for(lambda: next((m for m in self.tg.messages[after:]
                                              if f"{exchange} is FROZEN" in m.visible_text), None), 20)

    def alert(self, exchange: str) -> dict | None:
        rows = [r for r in self.store.list_alerts(AlertQuery(alertname="ExchangeFrozen", limit=50))
                if r["labels"].get("exchange") == exchange]
        return rows[0] if rows else None


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("oncall")
    cat = build_catalog({"policy": policy()})
    port = free_port()
    (tmp / "am.yml").write_text(render_alertmanager_config(cat, receiver_url=f"http://127.0.0.1:{port}",
                                                           bearer_token_file=None))
    (tmp / "channel_map.yml").write_text(render_channel_map(cat))
    am_port = free_port()
    am_proc = start_alertmanager(tmp / "am.yml", am_port, tmp / "am-data", tmp / "am.log")
    am_url = f"http://127.0.0.1:{am_port}"
    with FakeTelegram() as tg:
        env = {"DATABASE_URL": f"sqlite:///{tmp / 'h.db'}", "CHANNEL_MAP_FILE": str(tmp / "channel_map.yml"),
               "ALERTMANAGER_URL": am_url, "HISTORY_RECONCILE_INTERVAL_SECONDS": "0.25",
               "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_CHAT_ID": CHAT, "TELEGRAM_API_URL": tg.api_url,
               "TELEGRAM_POLLING": "true", "TELEGRAM_POLL_TIMEOUT": "1", "NOTIFY_POLL_SECONDS": "0.05",
               "TELEGRAM_ALLOWED_USER_IDS": f"{ALICE},{BOB},{NOT_ONCALL}", "TELEGRAM_CHAT_PER_MINUTE": "600",
               "TELEGRAM_CHAT_MIN_INTERVAL_SECONDS": "0.1", "MUTE_EXPIRY_CHECK_SECONDS": "0.3",
               "DEADMAN_ENABLED": "false"}
        app = create_app(load_settings(env=env))
        served = ServedApp(app, port)
        try:
            yield World(app, AM(am_url), tg, served.url)
        finally:
            served.close()
            app.extensions["d76_receiver"].close()
            am_proc.stop()


def test_an_open_window_mutes_upbit_and_the_page_of_binance_mentions_who_is_on_call(world: World) -> None:
    before = len(world.tg.messages)
    start = now() - timedelta(seconds=2)
    world.am.fire(AM.labels("ExchangeFrozen", "P0", exchange="upbit"), start, summary="upbit is FROZEN")
    world.am.fire(AM.labels("ExchangeFrozen", "P0", exchange="binance"), start, summary="binance is FROZEN")
    page = world.page("binance", before)
    assert "📟 on call: alice" in page.visible_text
    assert f'<a href="tg://user?id={ALICE}">alice</a>' in page.text  # a mention by id: her phone rings
    # upbit: muted by the window; the reconciler stores it, with the window as the cause
    upbit = wait_for(lambda: world.alert("upbit"), 10, "upbit stored from Alertmanager's list")
    assert upbit["origin"] == "alertmanager" and upbit["receive_count"] == 0
    timeline = wait_for(lambda: [e for e in build_timeline(world.store, upbit["id"])["events"]
                                 if e["event"] == "muted"], 10, "the muted episode")
    assert timeline[0]["window"] == "upbit-now"
    r = world.client.get(f"/api/alerts/{upbit['id']}/timeline")
    assert [e["window"] for e in r.get_json()["events"] if e["event"] == "muted"] == ["upbit-now"]
    time.sleep(1.5)
    assert not any("upbit" in m.visible_text for m in world.tg.messages[before:])  # never told
    binance = world.alert("binance")
    assert binance is not None and build_timeline(world.store, binance["id"])["episodes"] == []


def test_status_and_mute_list_the_windows_and_when_they_open(world: World) -> None:
    status = world.command("/status")
    assert "upbit-now exchange=upbit" in status and "open now, until" in status
    assert "binance-later exchange=binance" in status and "next " in status
    assert "On call: alice (rotation)" in status
    mute = world.command("/mute")
    assert "Recurring windows" in mute and "upbit-now" in mute and "open now" in mute
    assert "No one-off mute in force." in mute
    listed = world.command("/alerts P0")
    assert "upbit" in listed and "muted (window upbit-now)" in listed


def test_oncall_now_next_and_take(world: World) -> None:
    shown = world.command("/oncall")
    assert "On call now: alice (rotation)" in shown and "Next: bob (rotation)" in shown
    assert "Rotation: alice → bob" in shown
    refused = world.command("/oncall take 4h", user_id=STRANGER, username="mallory")
    assert "only takes commands from its operators" in refused and f"({STRANGER})" in refused
    not_person = world.command("/oncall take 4h", user_id=NOT_ONCALL, username="carol")
    assert "not one of the people on call" in not_person
    assert world.client.get("/api/oncall").get_json()["now"]["person"] == "alice"
    taken = world.command("/oncall take 4h", user_id=BOB, username="bob")  # bob is @bob in the people
    assert "bob is on call until" in taken and "taken by telegram:bob" in taken
    assert "On call now: bob (taken)" in taken and "Next: alice (rotation)" in taken
    # the next page mentions bob (by @name: no user id is known for him)
    before = len(world.tg.messages)
    world.am.fire(AM.labels("ExchangeFrozen", "P0", exchange="bithumb"), now(), summary="bithumb is FROZEN")
    page = world.page("bithumb", before)
    assert "📟 on call: @bob" in page.visible_text
    data = world.client.get("/api/oncall?days=8").get_json()
    assert (data["now"]["person"], data["now"]["why"], data["next"]["person"]) == ("bob", "taken", "alice")
    assert data["ahead"][0]["person"] == "bob" and data["people"] == ["alice", "bob"]


def test_the_api_names_the_bad_key(world: World) -> None:
    for body, param in (({"who": "zed", "duration": "4h"}, "who"),
                        ({"who": "alice", "duration": "4 hours"}, "duration"),
                        ({"who": "alice", "duration": "31d"}, "duration"), ({"who": "alice"}, "duration"),
                        ({"who": "alice", "duration": "1h", "when": "now"}, "when"), ([1], "body")):
        r = world.client.post("/api/oncall/take", json=body)
        assert r.status_code == 400 and r.get_json()["param"] == param, (body, r.get_json())
    assert world.client.get("/api/oncall?days=99").status_code == 400
    assert world.client.get("/api/oncall?weeks=1").get_json()["param"] == "weeks"


def test_d76_oncall_shows_and_takes(world: World) -> None:
    env = {**os.environ, "RECEIVER_TOKEN": ""}
    d76 = [str(REPO / ".venv/bin/d76")] if (REPO / ".venv/bin/d76").exists() else ["d76"]
    out = subprocess.run([*d76, "oncall", "take", "alice", "2h", "--by", "kim", "--receiver-url", world.url],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert "alice is on call until" in out.stdout and "taken by kim" in out.stdout
    shown = subprocess.run([*d76, "oncall", "--receiver-url", world.url, "--days", "1"], capture_output=True,
                           text=True, timeout=60, env=env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("times in Asia/Seoul; rotation: alice → bob")
    assert lines[1].split()[:2] == ["now", "alice"] and "(taken)" in lines[1]
    bad = subprocess.run([*d76, "oncall", "take", "zed", "2h", "--receiver-url", world.url], capture_output=True,
                         text=True, timeout=60, env=env)
    assert bad.returncode != 0 and "who: 'zed' is not one of the people on call (alice, bob)" in bad.stderr


def test_a_silence_that_runs_out_while_its_alert_fires_is_told_once(world: World) -> None:
    start = now() - timedelta(seconds=1)
    world.am.fire(AM.labels("ExchangeFrozen", "P0", exchange="kraken"), start, summary="kraken is FROZEN")
    world.am.fire(AM.labels("ExchangeDown", "P1", exchange="kraken"), start, summary="kraken is DOWN")
    world.am.wait_listed("ExchangeFrozen")
    before = len(world.tg.messages)
    sid = world.am.silence("kim", "kraken maintenance", minutes=6 / 60, exchange="kraken")
    notice = world.tg.wait_for(lambda: next((m for m in world.tg.messages[before:]
                                             if "mute on exchange=kraken expired" in m.visible_text), None), 20)
    text = notice.visible_text
    assert "mute on exchange=kraken expired; 2 alerts still firing" in text
    assert "ExchangeFrozen" in text and "ExchangeDown" in text and "silence by kim — kraken maintenance" in text
    time.sleep(2)
    assert sum("mute on exchange=kraken" in m.visible_text for m in world.tg.messages[before:]) == 1
    with world.store.transaction(write=False) as tx:
        row = tx.fetchone("SELECT state, still_firing FROM silence_watch WHERE silence_id = %s", (sid,))
    assert row == {"state": "told", "still_firing": 2}

