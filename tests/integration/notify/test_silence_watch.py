"""The expired-mute notice against a real Alertmanager 0.25, with two receivers' watchers on one
PostgreSQL database: a silence that runs out while its alerts fire is told once (both watchers look at
the same moment: one claims it), with the count; one ended early by someone is not told, nor one that
runs out with nothing left firing; a restart between recording and expiry loses nothing."""
from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.history import AM, am_config, now, wait_for
from webhook_receiver.alertmanager_api import AlertmanagerClient
from webhook_receiver.notify.outbox import Lane, Outbox
from webhook_receiver.notify.silence_watch import SilenceWatch
from webhook_receiver.store import open_store

LANE = Lane("telegram", "-1001")


@pytest.fixture
def parts(pg_url: str, alertmanager_factory, tmp_path: Path):
    _, am_url = alertmanager_factory(am_config(tmp_path / "am.yml", None))
    store = open_store(pg_url)
    store.migrate()
    outbox = Outbox(store)
    client = AlertmanagerClient(am_url)
    watchers = [SilenceWatch(store, outbox, client, LANE, f"receiver-{x}", interval=0.2) for x in "ab"]
    yield AM(am_url), store, watchers
    store.close()


def _notices(store) -> list[dict]:
    with store.transaction(write=False) as tx:
        return tx.fetchall("SELECT dedupe_key, payload FROM notifications WHERE dedupe_key LIKE 'mute-expired:%%'")


def _both_check(watchers: list[SilenceWatch]) -> list[int]:
    out: list[int] = []
    barrier = threading.Barrier(len(watchers))

    def run(w: SilenceWatch) -> None:
        barrier.wait()
        out.append(w.check())

    threads = [threading.Thread(target=run, args=(w,)) for w in watchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def test_told_once_across_two_receivers_with_the_count(parts) -> None:
    am, store, (a, b) = parts
    start = now() - timedelta(seconds=1)
    for ex in ("upbit", "binance"):
        am.fire(AM.labels("ExchangeDown", "P1", exchange=ex), start)
    am.fire(AM.labels("ExchangeDown", "P1", exchange="okx"), start)
    am.wait_listed("ExchangeDown")
    sid = am.silence("kim", "exchange maintenance", minutes=3 / 60, exchange="upbit")
    other = am.silence("lee", "okx for longer", minutes=60, exchange="okx")
    assert a.check() == 0  # recorded while in force, by a only
    wait_for(lambda: _expired(am, sid), 10, "the silence ran out")
    # b never looked before (the other replica, or a restarted process): the rows are what counts
    assert sorted(_both_check([a, b])) == [0, 1]
    [n] = _notices(store)
    assert n["dedupe_key"] == f"mute-expired:{sid}"
    text = n["payload"]["text"] if isinstance(n["payload"], dict) else str(n["payload"])
    assert "mute on <code>exchange=upbit</code> expired; 1 alert still firing" in text
    assert _both_check([a, b]) == [0, 0] and len(_notices(store)) == 1
    with store.transaction(write=False) as tx:
        states = {r["silence_id"]: (r["state"], r["still_firing"])
                  for r in tx.fetchall("SELECT silence_id, state, still_firing FROM silence_watch")}
    assert states == {sid: ("told", 1), other: ("active", None)}  # okx's is still in force


def _expired(am: AM, sid: str) -> bool:
    import requests

    return requests.get(f"{am.url}/api/v2/silence/{sid}", timeout=5).json()["status"]["state"] == "expired"


def test_ended_early_or_nothing_left_firing_is_not_told(parts) -> None:
    import requests

    am, store, (a, b) = parts
    am.fire(AM.labels("ExchangeDown", "P1", exchange="upbit"), now())
    am.wait_listed("ExchangeDown")
    early = am.silence("kim", "done early", minutes=60, exchange="upbit")
    idle = am.silence("kim", "nothing fires here", minutes=2 / 60, exchange="kraken")
    a.check()
    assert requests.delete(f"{am.url}/api/v2/silence/{early}", timeout=5).status_code == 200
    wait_for(lambda: _expired(am, idle), 10, "the idle silence ran out")
    assert _both_check([a, b]) == [0, 0]
    assert _notices(store) == []
    with store.transaction(write=False) as tx:
        states = {r["silence_id"]: r["state"] for r in tx.fetchall("SELECT silence_id, state FROM silence_watch")}
    assert states == {early: "ended", idle: "quiet"}


def test_one_watcher_at_a_time_holds_the_lease(parts) -> None:
    am, store, (a, b) = parts
    am.fire(AM.labels("ExchangeDown", "P1", exchange="upbit"), now())
    am.wait_listed("ExchangeDown")
    sid = am.silence("kim", "short", minutes=2 / 60, exchange="upbit")
    a.start()
    b.start()
    try:
        wait_for(lambda: _notices(store), 15, "the notice queued")
        time.sleep(1)
    finally:
        a.stop()
        b.stop()
    assert [n["dedupe_key"] for n in _notices(store)] == [f"mute-expired:{sid}"]
