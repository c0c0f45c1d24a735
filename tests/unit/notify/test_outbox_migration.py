"""Schema version 3 (delivery lanes, shared messages, open kinds) upgrades a database that already
holds notifications, on SQLite (PostgreSQL: tests/integration/notify/test_outbox.py)."""
from __future__ import annotations

from webhook_receiver.notify.outbox import Lane, Outbox
from webhook_receiver.store import open_store
from webhook_receiver.store.migrations import MIGRATIONS


def test_version_3_keeps_old_rows_and_opens_kinds(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        store._applied_versions()
        for m in MIGRATIONS[:2]:  # a database of the previous release
            store._apply(m.version, m.name, m.sqlite)
        with store.transaction() as tx:
            tx.execute("INSERT INTO notifications (channel, kind, severity, status, attempts, next_attempt_at, "
                       "payload, dedupe_key, created_at, updated_at) VALUES ('telegram', 'firing', 'P0', "
                       "'pending', 0, '2026-11-23T01:00:00.000000Z', '{}', 'old:1', "
                       "'2026-11-23T01:00:00.000000Z', '2026-11-23T01:00:00.000000Z')")
        assert store.migrate()[0] == 3  # and the versions after it
        outbox = Outbox(store)
        [old] = outbox.list()
        assert old["dedupe_key"] == "old:1" and old["destination"] == "" and old["message_ref"] is None
        assert outbox.adopt("telegram", "-100") == 1  # queued before lanes: goes to the default lane
        assert outbox.lanes_with_work() == [Lane("telegram", "-100")]
        with store.transaction() as tx:  # kinds are checked in code now, not by the table
            assert outbox.enqueue(tx, [{"channel": "telegram", "destination": "-100", "kind": "refresh",
                                        "dedupe_key": "r1", "message_ref": None}]) == 1
        ref = outbox.reserve_message(Lane("telegram", "-100"), "packed")
        outbox.set_message_remote_ids(ref, ["77"])
        assert outbox.message(ref)["remote_ids"] == ["77"]
        with store.transaction(write=False) as tx:
            names = {r["name"] for r in tx.fetchall("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"notifications_lane_due_idx", "notifications_sent_idx", "messages_lane_sent_idx"} <= names
    finally:
        store.close()
