"""Group commit on real SQLite and PostgreSQL: `AlertStore.ingest_many` stores a batch exactly as
one `ingest` after another would, and `GroupCommit` answers a request only after its batch's commit,
fails the whole batch on an outage (none of it stored), fails alone a payload the database refuses,
and keeps one row per occurrence when payloads of one fingerprint arrive together."""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.support.fakes.payloads import am_alert, am_payload
from tests.support.waiting import until
from webhook_receiver.errors import StorageUnavailable, UnstorableInput
from webhook_receiver.payload import WebhookPayload, parse_alertmanager_payload
from webhook_receiver.store import AlertStore, open_store
from webhook_receiver.store.base import IngestJob, IngestResult
from webhook_receiver.store.changes import AlertChange
from webhook_receiver.store.group_commit import GroupCommit

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def _p(*alerts: dict[str, Any]) -> WebhookPayload:
    import json

    return parse_alertmanager_payload(json.dumps(am_payload(*alerts)).encode())


def _a(name: str, exchange: str = "upbit", **kw: Any) -> dict[str, Any]:
    return am_alert(name, "P1", labels={"exchange": exchange}, **kw)


def _sequence() -> list[WebhookPayload]:
    """Payloads whose order matters: repeats, an annotation change, a replica's other start, a
    resolve and a late firing copy, a firing and resolved copy in one payload, a payload without
    alerts."""
    s = "2026-11-23T01:00:00.250Z"
    return [
        _p(_a("A", starts_at=s)),
        _p(_a("B", starts_at=s), _a("C", starts_at=s)),
        _p(_a("A", starts_at=s)),
        _p(_a("A", starts_at=s, annotations={"summary": "A is worse"})),
        _p(_a("D", starts_at="2026-11-23T01:00:01.100Z")),
        _p(_a("D", starts_at="2026-11-23T01:00:01.600Z")),  # replica b's start: the same occurrence
        _p(_a("B", starts_at=s, status="resolved", ends_at="2026-11-23T01:05:00Z")),
        _p(_a("B", starts_at=s)),  # a late firing copy of a resolved occurrence
        _p(_a("E", starts_at=s), _a("E", starts_at=s, status="resolved", ends_at="2026-11-23T01:04:00Z")),
        _p(_a("C", starts_at=s), _a("F", starts_at=s)),
        _p(),
    ]


@pytest.fixture
def second_store(database_url: str, tmp_path: Any) -> Iterator[AlertStore]:
    """A second, empty migrated store on the same backend as `store`."""
    if database_url.startswith("sqlite"):
        url, drop = f"sqlite:///{tmp_path / 'second.sqlite3'}", None
    else:
        admin = database_url.rsplit("/", 1)[0] + "/postgres"
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url, drop = database_url.rsplit("/", 1)[0] + f"/{name}", (admin, name)
    s = open_store(url)
    s.migrate()
    yield s
    s.close()
    if drop is not None:
        with psycopg.connect(drop[0], autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{drop[1]}" WITH (FORCE)')


def _changes(changes: list[AlertChange], ids: dict[int, tuple[str, str]]) -> list[tuple[Any, ...]]:
    return [(c.kind, c.fingerprint, c.starts_at, c.status, c.ends_at, ids[c.alert_id]) for c in changes]


def _snapshot(store: AlertStore) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[int, tuple[str, str]]]:
    with store.transaction(write=False) as tx:
        alerts = tx.fetchall("SELECT * FROM alerts ORDER BY fingerprint, starts_at")
        payloads = tx.fetchall("SELECT received_at, group_key, receiver, status, body, alert_count "
                               "FROM webhook_payloads ORDER BY id")
    ids = {int(r["id"]): (r["fingerprint"], str(r["starts_at"])) for r in alerts}
    for r in alerts:
        del r["id"]
    return alerts, payloads, ids


def test_a_batch_is_stored_exactly_as_one_ingest_after_another(store: AlertStore, second_store: AlertStore) -> None:
    payloads = _sequence()
    seen_one: list[tuple[str, list[AlertChange]]] = []
    seen_many: list[tuple[str, list[AlertChange]]] = []

    def hook(into: list[tuple[str, list[AlertChange]]]) -> Callable[..., None]:
        def h(tx: Any, changes: list[AlertChange], payload: WebhookPayload) -> None:
            into.append((tx.now.isoformat(), changes))
        return h

    one = [store.ingest(p, hook(seen_one), T0 + timedelta(seconds=i)) for i, p in enumerate(payloads)]
    many = second_store.ingest_many([IngestJob(p, hook(seen_many), T0 + timedelta(seconds=i))
                                     for i, p in enumerate(payloads)])
    a1, p1, ids1 = _snapshot(store)
    a2, p2, ids2 = _snapshot(second_store)
    assert a1 == a2 and p1 == p2
    assert len(a1) == 6 and len(p1) == len(payloads)
    assert [_changes(r.changes, ids1) for r in one] == [_changes(r.changes, ids2) for r in many]
    assert [(t, _changes(c, ids1)) for t, c in seen_one] == [(t, _changes(c, ids2)) for t, c in seen_many]
    assert [r.counts for r in one][:4] == [{"new": 1}, {"new": 2}, {"unchanged": 1}, {"updated": 1}]


def test_a_failure_mid_batch_stores_none_of_it(store: AlertStore) -> None:
    def outage(tx: Any, changes: list[AlertChange], payload: WebhookPayload) -> None:
        raise StorageUnavailable("simulated: the disk went away")

    jobs = [IngestJob(_p(_a(f"N{i}"))) for i in range(5)]
    jobs[3] = IngestJob(jobs[3].payload, outage)
    with pytest.raises(StorageUnavailable):
        store.ingest_many(jobs)
    assert store.count("alerts") == 0 and store.count("webhook_payloads") == 0


# ---- GroupCommit over the real store --------------------------------------------------------------
class Held:
    """A hook that keeps its transaction open until released (a commit in flight)."""

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()

    def __call__(self, tx: Any, changes: list[AlertChange], payload: WebhookPayload) -> None:
        self.inside.set()
        assert self.release.wait(20)


def _behind_a_held_commit(gc: GroupCommit, jobs: list[tuple[WebhookPayload, Any]],
                          while_held: Callable[[], None] = lambda: None) -> list[Any]:
    """A first payload's transaction held open, then `jobs` submitted (they queue and form one
    batch); returns each job's result or exception, first the held payload's."""
    held = Held()
    out: list[Any] = [None] * (len(jobs) + 1)

    def run(i: int, payload: WebhookPayload, hook: Any) -> None:
        try:
            out[i] = gc.submit(payload, hook)
        except Exception as exc:  # noqa: BLE001 - recorded for the assertions
            out[i] = exc

    threads = [threading.Thread(target=run, args=(0, _p(_a("Held", "okx")), held))]
    threads[0].start()
    assert held.inside.wait(20)
    for i, (payload, hook) in enumerate(jobs, 1):
        threads.append(threading.Thread(target=run, args=(i, payload, hook)))
        threads[-1].start()
    until(lambda: len(gc._queue) == len(jobs), what="the payloads queued behind the held commit")
    while_held()
    assert out == [None] * len(out)  # nobody answered while the first commit is in flight
    held.release.set()
    for t in threads:
        t.join(30)
    return out


def test_answers_come_after_the_commit_and_one_fingerprint_stays_one_row(store: AlertStore) -> None:
    gc = GroupCommit(store, max_batch=64, writers=1)
    same = _a("Same", starts_at="2026-11-23T01:00:00.250Z")
    jobs: list[tuple[WebhookPayload, Any]] = [(_p(same), None) for _ in range(8)]
    jobs += [(_p(_a(f"Other{i}")), None) for i in range(4)]

    def nothing_visible_yet() -> None:
        assert store.count("alerts") == 0 and store.count("webhook_payloads") == 0

    out = _behind_a_held_commit(gc, jobs, nothing_visible_yet)
    gc.close()
    assert all(isinstance(r, IngestResult) for r in out), out
    assert (gc.batches, gc.payloads) == (2, 13)  # the held payload alone, then the 12 queued together
    assert store.count("alerts") == 1 + 1 + 4 and store.count("webhook_payloads") == 13
    kinds = [r.changes[0].kind for r in out[1:9]]
    assert kinds == ["new"] + ["unchanged"] * 7
    row = store.get_alert(out[1].changes[0].alert_id)
    assert row is not None and row["receive_count"] == 8


def _count_directly(database_url: str, table: str) -> int:
    """Counted on a connection of its own (the store's breaker may still be open after an outage)."""
    if database_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(database_url[len("sqlite:///"):]) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    with psycopg.connect(database_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])


def test_an_outage_mid_batch_fails_every_request_of_the_batch_and_stores_none(
        store: AlertStore, database_url: str) -> None:
    def outage(tx: Any, changes: list[AlertChange], payload: WebhookPayload) -> None:
        if tx.backend == "postgresql":  # a real one: the server ends the writer's connection
            tx.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        raise StorageUnavailable("sqlite: disk I/O error (simulated)")

    gc = GroupCommit(store, max_batch=64, writers=1)
    jobs: list[tuple[WebhookPayload, Any]] = [(_p(_a(f"Batch{i}")), outage if i == 2 else None) for i in range(5)]
    out = _behind_a_held_commit(gc, jobs)
    gc.close()
    assert isinstance(out[0], IngestResult)
    assert all(isinstance(r, StorageUnavailable) for r in out[1:]), [type(r).__name__ for r in out]
    assert _count_directly(database_url, "alerts") == 1
    assert _count_directly(database_url, "webhook_payloads") == 1


def test_a_value_refused_in_one_payload_fails_only_that_request(store: AlertStore) -> None:
    def refused(tx: Any, changes: list[AlertChange], payload: WebhookPayload) -> None:
        tx.execute("SELECT %s AS x", ("nul \x00 in text",))  # both backends refuse NUL in text

    gc = GroupCommit(store, max_batch=64, writers=1)
    jobs: list[tuple[WebhookPayload, Any]] = [(_p(_a(f"Val{i}")), refused if i == 1 else None) for i in range(5)]
    out = _behind_a_held_commit(gc, jobs)
    gc.close()
    assert isinstance(out[2], UnstorableInput)
    assert all(isinstance(r, IngestResult) for i, r in enumerate(out) if i != 2), out
    assert store.count("alerts") == 1 + 4 and store.count("webhook_payloads") == 1 + 4
