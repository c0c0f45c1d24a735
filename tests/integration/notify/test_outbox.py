"""The outbox and the lane leases on both backends: queue once per dedupe key, lanes with work,
due order, retries that count only real failures, messages, and one lease holder per lane."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

from webhook_receiver.notify.lanes import LaneLeases
from webhook_receiver.notify.outbox import Lane, Outbox
from webhook_receiver.store.base import utcnow

TG = Lane("telegram", "-100")


def queue(outbox: Outbox, *rows: dict) -> int:
    with outbox.store.transaction() as tx:
        return outbox.enqueue(tx, rows)


def test_enqueue_dedupes_and_due_puts_p0_first(store) -> None:
    outbox = Outbox(store)
    n = queue(outbox,
              {"channel": "telegram", "destination": "-100", "kind": "firing", "severity": "P2", "dedupe_key": "a"},
              {"channel": "telegram", "destination": "-100", "kind": "firing", "severity": "P0", "dedupe_key": "b"},
              {"channel": "slack", "destination": "default", "kind": "firing", "severity": "P1", "dedupe_key": "c"},
              {"channel": "telegram", "destination": "-100", "kind": "firing", "severity": "P0", "dedupe_key": "b"})
    assert n == 3
    assert outbox.lanes_with_work() == [Lane("slack", "default"), TG]
    assert [r["severity"] for r in outbox.due(TG)] == ["P0", "P2"]
    assert outbox.depth() == {"telegram": 2, "slack": 1}


def test_rate_limits_do_not_count_real_failures_do(store) -> None:
    outbox = Outbox(store)
    queue(outbox, {"channel": "telegram", "destination": "-100", "kind": "firing", "severity": "P1", "dedupe_key": "a"})
    [row] = outbox.due(TG)
    outbox.take([row["id"]], "w", 5)
    for _ in range(20):  # a long flood of 429s
        assert outbox.retry([row], "telegram sendMessage: 429", 0.0, count_failure=False, max_failures=3) == []
        [row] = outbox.due(TG, now=utcnow() + timedelta(seconds=1))
    assert row["status"] == "pending" and row["payload"]["rate_limited"] == 20
    assert outbox.retry([row], "502", 10.0, count_failure=True, max_failures=3) == []
    assert outbox.due(TG) == []  # waits its backoff
    [row] = outbox.due(TG, now=utcnow() + timedelta(seconds=11))
    assert outbox.retry([row], "502", 0.0, count_failure=True, max_failures=3) == []
    [row] = outbox.due(TG, now=utcnow() + timedelta(seconds=1))
    assert outbox.retry([row], "502", 0.0, count_failure=True, max_failures=3) == [row["id"]]
    [failed] = outbox.list(status="failed")
    assert failed["last_error"].startswith("gave up after 3 failures")


def test_messages_and_completion(store) -> None:
    outbox = Outbox(store)
    queue(outbox, *[{"channel": "telegram", "destination": "-100", "kind": "firing", "severity": "P2",
                     "dedupe_key": f"k{i}"} for i in range(3)])
    ids = [r["id"] for r in outbox.due(TG)]
    ref = outbox.reserve_message(TG, "packed")
    outbox.take(ids, "w", 5)
    assert {r["status"] for r in outbox.list()} == {"sending"}
    outbox.set_message_remote_ids(ref, ["42"])
    outbox.complete(ids[:2], "sent", message_ref=ref, remote_id="42", destination="-100", worker="w")
    outbox.complete(ids[2:], "folded", message_ref=ref, note="counted")
    got = {r["id"]: r for r in outbox.list()}
    assert [got[i]["status"] for i in ids] == ["sent", "sent", "folded"]
    assert got[ids[0]]["message_ref"] == ref and got[ids[0]]["payload"]["worker"] == "w"
    assert outbox.message(ref)["remote_ids"] == ["42"]
    assert [t.tzinfo is not None for t in outbox.recent_sends(TG, utcnow() - timedelta(minutes=1))] == [True]
    assert outbox.lanes_with_work() == []


def test_one_lease_holder_per_lane(store) -> None:
    a, b = LaneLeases(store, "a", 0.5), LaneLeases(store, "b", 0.5)
    assert a.acquire(TG) and not b.acquire(TG)
    assert a.acquire(TG)  # renewal
    assert b.acquire(Lane("slack", "default"))  # other lanes are independent
    time.sleep(0.7)  # a stops renewing (died)
    assert b.acquire(TG) and not a.acquire(TG)
    b.release(TG)
    assert a.acquire(TG)
    assert a.holder(TG) == ("a", True)


def test_racing_processes_never_both_hold_a_lane(store) -> None:
    wins: list[str] = []
    start = threading.Barrier(4)

    def contend(name: str) -> None:
        leases = LaneLeases(store, name, 30)
        start.wait()
        for _ in range(20):
            if leases.acquire(TG):
                wins.append(name)

    threads = [threading.Thread(target=contend, args=(f"p{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(wins)) == 1 and len(wins) == 20


def test_version_3_upgrades_a_postgresql_database_with_rows(pg_url) -> None:
    from webhook_receiver.store import open_store
    from webhook_receiver.store.migrations import MIGRATIONS

    s = open_store(pg_url)
    try:
        s._applied_versions()
        for m in MIGRATIONS[:2]:
            s._apply(m.version, m.name, m.postgresql)
        with s.transaction() as tx:
            tx.execute("INSERT INTO notifications (channel, kind, severity, status, attempts, next_attempt_at, "
                       "payload, dedupe_key, created_at, updated_at) VALUES ('telegram', 'firing', 'P0', 'pending', "
                       "0, now(), '{}', 'old:1', now(), now())")
        assert s.migrate()[0] == 3  # and the versions after it
        outbox = Outbox(s)
        assert outbox.adopt("telegram", "-100") == 1
        with s.transaction() as tx:  # the old CHECK on kinds is gone
            assert outbox.enqueue(tx, [{"channel": "telegram", "destination": "-100", "kind": "refresh",
                                        "dedupe_key": "r"}]) == 1
        assert [r["dedupe_key"] for r in outbox.due(TG)] == ["old:1", "r"]
    finally:
        s.close()
