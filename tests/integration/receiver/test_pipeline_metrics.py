"""The two receiver metrics the pipeline's own alerts read, against a real PostgreSQL: the age of the
oldest due notification per channel and severity (one grouped query per scrape), and
`d76_receiver_storage_up` following the storage circuit breaker while the database is stopped and
started again."""
from __future__ import annotations

import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from local_stack.processes import PostgresCluster
from tests.support import paths
from webhook_receiver.app import create_app
from webhook_receiver.notify.outbox import Outbox
from webhook_receiver.settings import load_settings
from webhook_receiver.store import open_store


def _metric(client, name: str, **labels: str) -> float | None:
    text = client.get("/metrics").get_data(as_text=True)
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    head = f"{name}{{{want}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(head):
            return float(line.split()[-1])
    return None


def test_oldest_due_age_and_storage_up_on_postgresql():
    base = Path(tempfile.mkdtemp(prefix="d76-pipeline-metrics-"))
    base.chmod(0o755)  # the cluster runs as `postgres` and must reach its folder
    cluster = PostgresCluster(base / "pg").init().start()
    try:
        settings = load_settings(env={"DATABASE_URL": cluster.url, "NOTIFICATIONS_ENABLED": "true",
                                      "TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_CHAT_ID": "-100",
                                      "TELEGRAM_API_URL": "http://127.0.0.1:1", "TELEGRAM_POLLING": "false",
                                      "RECEIVER_DB_POOL_TIMEOUT": "0.5"})
        store = open_store(cluster.url, settings)
        app = create_app(settings, store=store, start=False)  # nothing delivers: the rows stay due
        client = app.test_client()
        assert _metric(client, "d76_receiver_storage_up") == 1
        assert _metric(client, "d76_notifications_oldest_due_age_seconds", channel="telegram", severity="P0") == 0

        outbox = Outbox(store)
        with store.transaction() as tx:
            tx.now = tx.now - timedelta(seconds=90)
            outbox.enqueue(tx, [{"channel": "telegram", "destination": "-100", "kind": "firing", "severity": "P0",
                                 "dedupe_key": "a"},
                                {"channel": "telegram", "destination": "-100", "kind": "firing", "severity": "P2",
                                 "dedupe_key": "b"}])
        with store.transaction() as tx:
            tx.now = tx.now - timedelta(seconds=300)
            # queued long ago but due only later (not yet tried): not waiting yet
            outbox.enqueue(tx, [{"channel": "telegram", "destination": "-100", "kind": "firing", "severity": "P1",
                                 "dedupe_key": "c", "next_attempt_at": tx.now + timedelta(hours=1)}])
            # delivered: not waiting
            outbox.enqueue(tx, [{"channel": "telegram", "destination": "-100", "kind": "firing", "severity": "P0",
                                 "dedupe_key": "d", "status": "sent"}])
        p0 = _metric(client, "d76_notifications_oldest_due_age_seconds", channel="telegram", severity="P0")
        p2 = _metric(client, "d76_notifications_oldest_due_age_seconds", channel="telegram", severity="P2")
        p1 = _metric(client, "d76_notifications_oldest_due_age_seconds", channel="telegram", severity="P1")
        assert p0 is not None and 90 <= p0 < 100 and p2 is not None and 90 <= p2 < 100 and p1 == 0

        cluster.stop(mode="fast")
        body = (paths.AM_FIXTURES / "firing-p0-single.json").read_bytes()
        deadline = time.monotonic() + 20
        while _metric(client, "d76_receiver_storage_up") != 0:  # a request trips the breaker
            client.post("/webhook/alertmanager", data=body, content_type="application/json")
            assert time.monotonic() < deadline, "the breaker never opened"
            time.sleep(0.2)
        # a scrape while storage is down still answers, without the outbox's numbers
        assert client.get("/metrics").status_code == 200
        cluster.start()
        deadline = time.monotonic() + 30
        while _metric(client, "d76_receiver_storage_up") != 1:
            assert time.monotonic() < deadline, "the breaker never closed"
            time.sleep(0.2)
        store.close()
    finally:
        cluster.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)
