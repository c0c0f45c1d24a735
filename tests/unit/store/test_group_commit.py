"""Group commit (`store/group_commit.GroupCommit`) against a fake store: batches form while a commit
is in flight, a request is answered only after its batch's commit, an outage fails the whole batch,
and a payload the store refuses fails alone. The same on real SQLite and PostgreSQL:
tests/integration/store/test_group_commit.py."""
from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from tests.support.waiting import until
from webhook_receiver.errors import StorageUnavailable, UnstorableInput
from webhook_receiver.payload import WebhookPayload
from webhook_receiver.store.base import IngestJob, IngestResult
from webhook_receiver.store.group_commit import GroupCommit


def _payload(key: str) -> WebhookPayload:
    return WebhookPayload(status="firing", receiver="d76", group_key=key, external_url="", truncated_alerts=0,
                          alerts=[])


class FakeStore:
    """`ingest_many` records each batch and, while `hold` is clear, blocks the first batch (a commit
    in flight); `fail` maps a group key to the error storing it raises (in a batch or alone)."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.alone: list[str] = []
        self.committed: list[str] = []
        self.hold = threading.Event()
        self.holding = threading.Event()
        self.fail: dict[str, BaseException] = {}

    def ingest_many(self, jobs: Sequence[IngestJob]) -> list[IngestResult]:
        keys = [j.payload.group_key for j in jobs]
        self.batches.append(keys)
        if len(self.batches) == 1:
            self.holding.set()
            assert self.hold.wait(10)
        for k in keys:
            if k in self.fail:
                raise self.fail[k]
        self.committed += keys  # the commit
        return [IngestResult(i, []) for i, _ in enumerate(keys)]

    def ingest(self, payload: WebhookPayload, hook: Any = None, now: Any = None) -> IngestResult:
        self.alone.append(payload.group_key)
        if payload.group_key in self.fail:
            raise self.fail[payload.group_key]
        self.committed.append(payload.group_key)
        return IngestResult(0, [])


def _submit_all(gc: GroupCommit, keys: list[str]) -> tuple[dict[str, Any], list[threading.Thread]]:
    """Submit each key from its own thread; returns {key: result or exception} (filled as they end)."""
    out: dict[str, Any] = {}

    def one(k: str) -> None:
        try:
            out[k] = gc.submit(_payload(k))
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertions
            out[k] = exc

    threads = [threading.Thread(target=one, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    return out, threads


def _queued_behind_a_commit(store: FakeStore, gc: GroupCommit, keys: list[str]) -> tuple[dict[str, Any], list]:
    """A first payload's batch held in its commit, then `keys` submitted: they queue meanwhile."""
    first, t0 = _submit_all(gc, ["first"])
    assert store.holding.wait(10)
    out, threads = _submit_all(gc, keys)
    until(lambda: len(gc._queue) == len(keys), what="the payloads queued")
    assert all(k not in out for k in keys)  # nobody is answered before the commit
    store.hold.set()
    for t in t0 + threads:
        t.join(10)
    out.update(first)
    return out, t0 + threads


def test_payloads_that_arrive_during_a_commit_are_committed_together_and_answered_after_it() -> None:
    store = FakeStore()
    gc = GroupCommit(store, max_batch=64, writers=1)  # type: ignore[arg-type]
    keys = [f"k{i}" for i in range(10)]
    out, _ = _queued_behind_a_commit(store, gc, keys)
    assert store.batches[0] == ["first"] and sorted(store.batches[1]) == sorted(keys)
    assert all(isinstance(out[k], IngestResult) for k in keys + ["first"])
    assert sorted(store.committed) == sorted(keys + ["first"]) and store.alone == []
    assert (gc.batches, gc.payloads) == (2, 11)
    gc.close()


def test_batches_are_at_most_max_batch_payloads() -> None:
    store = FakeStore()
    gc = GroupCommit(store, max_batch=4, writers=1)  # type: ignore[arg-type]
    keys = [f"k{i}" for i in range(10)]
    out, _ = _queued_behind_a_commit(store, gc, keys)
    assert [len(b) for b in store.batches] == [1, 4, 4, 2]
    assert all(isinstance(out[k], IngestResult) for k in keys)
    gc.close()


def test_an_outage_mid_batch_fails_every_request_of_the_batch_and_retries_none() -> None:
    store = FakeStore()
    store.fail["k3"] = StorageUnavailable("postgresql: connection lost")
    gc = GroupCommit(store, max_batch=64, writers=1)  # type: ignore[arg-type]
    keys = [f"k{i}" for i in range(6)]
    out, _ = _queued_behind_a_commit(store, gc, keys)
    assert isinstance(out["first"], IngestResult)
    assert all(isinstance(out[k], StorageUnavailable) for k in keys), out
    assert store.committed == ["first"] and store.alone == []  # none of the batch stored, none retried here
    gc.close()


def test_a_payload_the_store_refuses_fails_alone_and_the_others_are_stored() -> None:
    store = FakeStore()
    store.fail["k2"] = UnstorableInput("postgresql refused a value")
    gc = GroupCommit(store, max_batch=64, writers=1)  # type: ignore[arg-type]
    keys = [f"k{i}" for i in range(5)]
    out, _ = _queued_behind_a_commit(store, gc, keys)
    assert isinstance(out["k2"], UnstorableInput)
    assert all(isinstance(out[k], IngestResult) for k in keys if k != "k2")
    assert sorted(store.alone) == sorted(keys)  # the failed batch, each stored again alone
    assert sorted(store.committed) == sorted(["first"] + [k for k in keys if k != "k2"])
    gc.close()


def test_max_batch_one_stores_in_the_requests_own_thread() -> None:
    store = FakeStore()
    gc = GroupCommit(store, max_batch=1)  # type: ignore[arg-type]
    assert isinstance(gc.submit(_payload("a")), IngestResult)
    assert store.alone == ["a"] and store.batches == [] and gc._threads == []


def test_after_close_a_submit_is_refused_as_unavailable() -> None:
    store = FakeStore()
    store.hold.set()
    gc = GroupCommit(store, max_batch=8)  # type: ignore[arg-type]
    assert isinstance(gc.submit(_payload("a")), IngestResult)
    gc.close()
    assert all(not t.is_alive() for t in gc._threads)
    with pytest.raises(StorageUnavailable):
        gc.submit(_payload("b"))
