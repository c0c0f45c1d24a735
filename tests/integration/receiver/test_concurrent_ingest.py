"""The webhook under concurrent requests (group commit: their payloads share transactions): the same
occurrence posted by many requests at once is still one stored row, every request answered 200 and
counted once; distinct payloads posted at once are all stored."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from tests.support.fakes.payloads import am_alert, am_payload


def _post_all(app: Any, bodies: list[bytes]) -> list[int]:
    barrier = threading.Barrier(len(bodies))
    codes: list[int] = [0] * len(bodies)

    def post(i: int) -> None:
        client = app.test_client()
        barrier.wait()
        codes[i] = client.post("/webhook/alertmanager", data=bodies[i], content_type="application/json").status_code

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return codes


def test_concurrent_posts_of_one_fingerprint_store_one_row(database_url: str, make_app: Callable[..., Any]) -> None:
    app = make_app({"DATABASE_URL": database_url, "NOTIFICATIONS_ENABLED": "false"})
    body = json.dumps(am_payload(am_alert("ExchangeFrozen", "P0", labels={"exchange": "upbit"},
                                          starts_at="2026-11-23T01:00:00.250Z"))).encode()
    codes = _post_all(app, [body] * 16)
    assert codes == [200] * 16
    store = app.extensions["d76_receiver"].store
    assert store.count("alerts") == 1 and store.count("webhook_payloads") == 16
    with store.transaction(write=False) as tx:
        row = tx.fetchone("SELECT receive_count, status FROM alerts")
    assert row == {"receive_count": 16, "status": "firing"}


def test_distinct_payloads_posted_at_once_are_all_stored(database_url: str, make_app: Callable[..., Any]) -> None:
    app = make_app({"DATABASE_URL": database_url, "NOTIFICATIONS_ENABLED": "false"})
    bodies = [json.dumps(am_payload(am_alert("RouteScoreLow", "P2", labels={"route": f"a-b-C{i}"}))).encode()
              for i in range(24)]
    assert _post_all(app, bodies) == [200] * 24
    store = app.extensions["d76_receiver"].store
    assert store.count("alerts") == 24 and store.count("webhook_payloads") == 24
