"""`d76_notifications_oldest_due_age_seconds` on SQLite (tests/integration/receiver/test_pipeline_metrics.py
runs it on PostgreSQL): due and undelivered rows count from when they were queued; rows not yet due
and delivered rows do not."""
from __future__ import annotations

from datetime import timedelta

from webhook_receiver.app import create_app
from webhook_receiver.notify.outbox import Outbox
from webhook_receiver.settings import load_settings
from webhook_receiver.state import EXTENSION


def _ages(client) -> dict[tuple[str, str], float]:
    out = {}
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith("d76_notifications_oldest_due_age_seconds{"):
            labels = dict(p.split("=") for p in line[line.index("{") + 1:line.index("}")].split(","))
            out[(labels["channel"].strip('"'), labels["severity"].strip('"'))] = float(line.split()[-1])
    return out


def test_oldest_due_age_on_sqlite(tmp_path):
    app = create_app(load_settings(env={"DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
                                        "NOTIFICATIONS_ENABLED": "true"}), start=False)
    store = app.extensions[EXTENSION].store
    client = app.test_client()
    assert _ages(client)[("telegram", "P0")] == 0 and len(_ages(client)) == 4  # every severity, from the start
    outbox = Outbox(store)
    with store.transaction() as tx:
        tx.now = tx.now - timedelta(seconds=45)
        outbox.enqueue(tx, [{"channel": "telegram", "kind": "firing", "severity": "P0", "dedupe_key": "a"},
                            {"channel": "telegram", "kind": "reply", "severity": None, "dedupe_key": "r"}])
    with store.transaction() as tx:
        tx.now = tx.now - timedelta(seconds=600)
        outbox.enqueue(tx, [{"channel": "telegram", "kind": "firing", "severity": "P3", "dedupe_key": "later",
                             "next_attempt_at": tx.now + timedelta(hours=1)},
                            {"channel": "telegram", "kind": "firing", "severity": "P0", "dedupe_key": "sent",
                             "status": "sent"}])
    ages = _ages(client)
    assert 45 <= ages[("telegram", "P0")] < 55 and 45 <= ages[("telegram", "none")] < 55
    assert ages[("telegram", "P3")] == 0 and ages[("telegram", "P1")] == 0
    store.close()
