"""Rows queued as already sent (storm summaries) carry sent_at, so the shared Telegram budget,
read through the sent_at index, counts them."""
from __future__ import annotations

from webhook_receiver.store import open_store


def test_rows_queued_as_sent_have_sent_at(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        assert store.migrate() == [1, 2]
        with store.transaction() as tx:
            store.enqueue_notifications(tx, [
                {"channel": "telegram", "kind": "summary", "status": "sent", "dedupe_key": "s1"},
                {"channel": "telegram", "kind": "deadman", "dedupe_key": "d1"}])
        rows = {r["dedupe_key"]: r for r in store.list_notifications()}
        assert rows["s1"]["sent_at"] is not None
        assert rows["d1"]["sent_at"] is None and rows["d1"]["status"] == "pending"
        with store.transaction(write=False) as tx:
            names = {r["name"] for r in tx.fetchall("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "notifications_sent_idx" in names
    finally:
        store.close()
