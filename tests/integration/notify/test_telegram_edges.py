"""Telegram's edge cases end to end: the real `d76 receiver` process (long polling the fake Bot API) gets
Alertmanager webhooks; the fake answers as Telegram does.

- A group upgraded to a supergroup (every call naming the old id answers 400 with
  `migrate_to_chat_id`): the alert arrives in the new chat, the chat is told once to update the
  configuration, acknowledgements and resolves of messages sent before or after are sent there as
  new messages, commands from the new chat are answered; after a restart the receiver goes straight
  to the new chat (the move is in the database); nothing is marked failed. On both backends.
- The service message announcing the move teaches it before anything is sent.
- "message to edit not found" / "message can't be edited": the acknowledgement and the resolve are
  sent as new messages; nothing is marked failed.
- Another getUpdates consumer of the same bot (Telegram answers 409 to one of them): the receiver
  says so in its log, backs off and answers commands again once the other stops.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import requests

from tests.support.fakes import FakeTelegram, SentMessage, am_alert, am_payload
from webhook_receiver.notify.outbox import Outbox
from webhook_receiver.store import open_store

TOKEN = "edges-token"
OLD, NEW = "-4242", "-1004242"


class Receiver:
    def __init__(self, url: str, tg: FakeTelegram, database_url: str) -> None:
        self.url, self.tg, self.database_url = url, tg, database_url

    def post(self, *alerts: dict[str, Any]) -> None:
        r = requests.post(f"{self.url}/webhook/alertmanager", json=am_payload(*alerts),
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert r.status_code == 200, r.text

    def alert_id(self, alertname: str) -> int:
        r = requests.get(f"{self.url}/api/alerts", params={"alertname": alertname},
                         headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        return int(r.json()["alerts"][0]["id"])

    def ack(self, alert_id: int) -> None:
        r = requests.post(f"{self.url}/api/alerts/{alert_id}/ack", json={"by": "kim"},
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert r.status_code == 200, r.text

    def message(self, chat: str, text: str, timeout: float = 15.0) -> SentMessage:
        return self.tg.wait_for(lambda: next((m for m in self.tg.messages if m.chat_id == chat
                                              and text in m.visible_text), None), timeout)

    def statuses(self) -> dict[str, int]:
        store = open_store(self.database_url)
        try:
            out: dict[str, int] = {}
            for r in Outbox(store).list():
                out[r["status"]] = out.get(r["status"], 0) + 1
            return out
        finally:
            store.close()


def _env(tg: FakeTelegram, database_url: str, chat: str = OLD) -> dict[str, str]:
    return {"RECEIVER_TOKEN": TOKEN, "DATABASE_URL": database_url, "TELEGRAM_BOT_TOKEN": tg.token,
            "TELEGRAM_CHAT_ID": chat, "TELEGRAM_API_URL": tg.api_url, "TELEGRAM_POLL_TIMEOUT": "1",
            "NOTIFY_POLL_SECONDS": "0.05", "DEADMAN_TIMEOUT_SECONDS": "3600", "HISTORY_RECONCILE": "false",
            "TELEGRAM_SET_COMMANDS": "false"}


def _alert(name: str, sev: str = "P1", **kw: Any) -> dict[str, Any]:
    return am_alert(name, sev, labels={"exchange": name.lower()}, **kw)


def _resolved(name: str, sev: str = "P1") -> dict[str, Any]:
    return _alert(name, sev, status="resolved")


def test_a_chat_that_became_a_supergroup_gets_every_message_and_nothing_is_marked_failed(database_url,
                                                                                          receiver_process):
    with FakeTelegram() as tg:
        proc, url = receiver_process(_env(tg, database_url))
        rcv = Receiver(url, tg, database_url)
        rcv.post(_alert("Before"))
        before = rcv.message(OLD, "Before")
        tg.migrate_chat(OLD, NEW)  # the group enabled topics: it is a supergroup now
        rcv.post(_alert("After"))
        after = rcv.message(NEW, "After")
        note = rcv.message(NEW, "became a supergroup")
        assert OLD in note.visible_text and NEW in note.visible_text
        # the acknowledgement of the message sent before the move, and of the one after, and a resolve:
        # new messages in the new chat (a message id of the old chat may name another message there)
        rcv.ack(rcv.alert_id("Before"))
        rcv.ack(rcv.alert_id("After"))
        rcv.post(_resolved("Before"))
        acks = tg.wait_for(lambda: [m for m in tg.messages if m.chat_id == NEW and "Acked by kim" in m.visible_text]
                           if sum("Acked by kim" in m.visible_text for m in tg.messages) >= 2 else None, 15)
        resolved = rcv.message(NEW, "RESOLVED")
        assert {("Before" in m.visible_text, "After" in m.visible_text) for m in acks} == {(True, False), (False, True)}
        assert "Before" in resolved.visible_text and before.edits == [] and after.edits == []
        # a command from the new chat is answered there
        cmd = tg.send_command("/status", chat_id=NEW)
        assert tg.wait_reply(NEW, cmd["message_id"], timeout=15).chat_id == NEW
        # a restarted receiver knows the move: straight to the new chat, no second note
        proc.stop()
        calls_before = len(tg.method_calls("sendMessage"))
        _, url = receiver_process(_env(tg, database_url))
        rcv = Receiver(url, tg, database_url)
        rcv.post(_alert("Restarted", "P0"))
        rcv.message(NEW, "Restarted")
        later = [r.params.get("chat_id") for r in tg.method_calls("sendMessage")[calls_before:]]
        assert later and all(str(c) == NEW for c in later), later
        assert sum("became a supergroup" in m.visible_text for m in tg.messages) == 1
        time.sleep(0.5)
        statuses = rcv.statuses()
        print(f"\nchat migrated: outbox {statuses}; {len(tg.messages)} messages, "
              f"{sum(m.chat_id == NEW for m in tg.messages)} in the new chat")
        assert "failed" not in statuses and set(statuses) <= {"sent", "folded"}


def test_the_service_message_teaches_the_move_before_anything_is_sent(tmp_path: Path, receiver_process):
    with FakeTelegram() as tg:
        db = f"sqlite:///{tmp_path / 'history.sqlite3'}"
        _, url = receiver_process(_env(tg, db))
        rcv = Receiver(url, tg, db)
        tg.migrate_chat(OLD, NEW, announce=True)
        rcv.message(NEW, "became a supergroup")  # learnt from the update, told once
        rcv.post(_alert("Announced", "P0"))
        rcv.message(NEW, "Announced")
        assert not [r for r in tg.method_calls("sendMessage") if str(r.params.get("chat_id")) == OLD]
        assert "failed" not in rcv.statuses()


def test_updates_of_messages_that_are_gone_are_sent_as_new_messages(tmp_path: Path, receiver_process):
    with FakeTelegram() as tg:
        db = f"sqlite:///{tmp_path / 'history.sqlite3'}"
        _, url = receiver_process(_env(tg, db))
        rcv = Receiver(url, tg, db)
        rcv.post(_alert("Deleted"))
        deleted = rcv.message(OLD, "Deleted")
        rcv.post(_alert("Stale"))  # one alert, one message of its own
        stale = rcv.message(OLD, "Stale")
        assert deleted.message_id != stale.message_id
        tg.delete_message(OLD, deleted.message_id)       # someone deleted it
        tg.make_uneditable(OLD, stale.message_id)        # too old to edit
        rcv.ack(rcv.alert_id("Deleted"))
        rcv.post(_resolved("Stale"))
        acked = rcv.message(OLD, "Acked by kim")
        resolved = rcv.message(OLD, "RESOLVED")
        assert "Deleted" in acked.visible_text and acked.message_id != deleted.message_id
        assert "Stale" in resolved.visible_text and resolved.message_id != stale.message_id
        assert acked.reply_markup  # the buttons come along
        assert len(tg.method_calls("editMessageText")) == 2  # each edit tried once, then sent anew
        assert "failed" not in rcv.statuses()


def test_another_consumer_of_the_bot_is_said_in_the_log_and_commands_work_again_when_it_stops(tmp_path: Path,
                                                                                              receiver_process):
    with FakeTelegram() as tg:
        db = f"sqlite:///{tmp_path / 'history.sqlite3'}"
        _, url = receiver_process(_env(tg, db))
        stop = threading.Event()

        def rogue() -> None:  # another deployment polling with the same token
            while not stop.is_set():
                requests.post(f"{tg.api_url}/bot{tg.token}/getUpdates", json={"timeout": 1}, timeout=5)

        t = threading.Thread(target=rogue, daemon=True)
        t.start()
        try:
            tg.wait_for(lambda: len(tg.conflicts) >= 3, timeout=30)
        finally:
            stop.set()
            t.join(10)
        log = (tmp_path / "receiver0.log").read_text()
        assert "another process polls with this bot token" in log
        cmd = tg.send_command("/status", chat_id=OLD)
        reply = tg.wait_reply(OLD, cmd["message_id"], timeout=45)
        assert "Pipeline status" in reply.visible_text and len(tg.replies_to(OLD, cmd["message_id"])) == 1
