"""Reconciliation at rest, with a real Alertmanager 0.25 on SQLite and PostgreSQL: a poll that finds
Alertmanager's listing, the stored firing alerts and the windows in force as the last poll left them
is `unchanged` (nothing compared beyond the listing's signatures and one digest of the firing
alerts), and every kind of change still takes a full poll at once: a silence, an alert Alertmanager
lets go of, a firing alert stored that Alertmanager does not list, a maintenance window closing. An
alert that leaves after unchanged polls ends when the last of them listed it; the worker waits two
intervals after an unchanged poll."""
from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from tests.support.history import AM, am_config, now, upbit_window_from, wait_for
from webhook_receiver.alertmanager_api import AlertmanagerClient
from webhook_receiver.history.metrics import HistoryMetrics
from webhook_receiver.history.reconcile import Reconciler, ReconcileWorker
from webhook_receiver.history.settings import HistorySettings
from webhook_receiver.store.episodes import HistoryTables

from .test_reconcile_guards import reconciler, status, stored


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_polls_at_rest_are_unchanged_and_every_change_is_seen_at_once(store, alertmanager_factory,
                                                                       tmp_path: Path) -> None:
    _, url = alertmanager_factory(am_config(tmp_path / "am.yml", None))
    am = AM(url)
    start = now() - timedelta(minutes=3)
    ids = {}
    for ex in ("upbit", "okx", "kraken"):
        ids[ex] = stored(store, ex, start)
        am.fire(AM.labels("ExchangeDown", "P1", exchange=ex), start)
    r = reconciler(store, url, grace=0.0, polls=2)
    first = r.poll()
    assert not first.unchanged and first.resolved == []
    for _ in range(3):
        res = r.poll()
        assert res.unchanged and (res.reachable, res.resolved, res.episodes_opened) == (1, [], 0)

    # a silence: the listing's signatures change, the episode is opened by the very next poll
    sid = am.silence("kim", "okx maintenance", exchange="okx")
    am.wait_listed("ExchangeDown", "suppressed")
    res = r.poll()
    assert not res.unchanged and res.episodes_opened == 1
    [ep] = HistoryTables(store).episodes_for([ids["okx"]])[ids["okx"]]
    assert (ep["cause"], ep["silence_created_by"]) == (sid, "kim")
    assert r.poll().unchanged

    # a firing alert stored that Alertmanager does not list (a late webhook): the digest of the firing
    # alerts changed, so it is compared, counted missing, and resolved at the second poll
    lost = stored(store, "bybit", start)
    res = r.poll()
    assert not res.unchanged and res.resolved == [] and status(store, lost) == "firing"
    assert r.poll().resolved == [lost]
    assert r.poll().unchanged is False  # its own resolve changed the firing alerts
    assert r.poll().unchanged

    # Alertmanager lets go of one: resolved after two polls, as without unchanged polls
    am.end(AM.labels("ExchangeDown", "P1", exchange="kraken"), start)
    wait_for(lambda: not [a for a in am.alerts() if a["labels"].get("exchange") == "kraken"], 10, "kraken gone")
    assert r.poll().resolved == []
    assert r.poll().resolved == [ids["kraken"]]
    assert status(store, ids["upbit"]) == "firing" and status(store, ids["okx"]) == "firing"


def test_an_alert_leaving_after_unchanged_polls_ended_when_the_last_of_them_listed_it(
        store, alertmanager_factory, tmp_path: Path) -> None:
    _, url = alertmanager_factory(am_config(tmp_path / "am.yml", None))
    am = AM(url)
    start = now() - timedelta(minutes=3)
    labels = AM.labels("ExchangeDown", "P1", exchange="upbit")
    aid = stored(store, "upbit", start)
    am.fire(labels, start)
    r = reconciler(store, url, grace=0.0, polls=2)
    t0 = now()
    clock = Clock(t0)
    r.now = clock
    assert not r.poll().unchanged
    clock.at = t0 + timedelta(seconds=1)
    assert r.poll().unchanged
    clock.at = t0 + timedelta(seconds=2)
    assert r.poll().unchanged  # the last poll that lists it
    am.end(labels, start)
    wait_for(lambda: not am.alerts(), 10, "the alert gone from Alertmanager")
    clock.at = t0 + timedelta(seconds=3)
    assert r.poll().resolved == []
    clock.at = t0 + timedelta(seconds=4)
    assert r.poll().resolved == [aid]
    a = store.get_alert(aid)
    assert a["ends_at"] == t0 + timedelta(seconds=2) and a["reconciled_at"] == clock.at
    assert a["am_last_seen_at"] == t0 + timedelta(seconds=2)


def test_a_maintenance_window_closing_is_a_change(store, alertmanager_factory, tmp_path: Path) -> None:
    _, url = alertmanager_factory(am_config(tmp_path / "am.yml", None))
    t0 = now()
    schedule = upbit_window_from(t0)
    clock = Clock(t0)

    def windows(labels: Mapping[str, str], at: datetime) -> list[str]:
        return schedule.muted_by(labels, at)

    def in_force(at: datetime) -> tuple[str, ...]:
        return tuple(w.name for w in schedule.windows if w.active_at(at))

    s = HistorySettings(alertmanager_urls=(url,), reconcile_enabled=True, reconcile_missing_polls=2,
                        reconcile_startup_grace_seconds=0.0, reconcile_timeout_seconds=2.0)
    r = Reconciler(store, s, client=AlertmanagerClient([url], timeout=2.0), windows=windows, window_state=in_force,
                   now=clock)
    am = AM(url)
    told = stored(store, "upbit", t0 - timedelta(minutes=1))
    am.fire(AM.labels("ExchangeDown", "P1", exchange="upbit"), t0 - timedelta(minutes=1))
    res = r.poll()
    assert res.episodes_opened == 1 and not res.unchanged
    clock.at = t0 + timedelta(seconds=30)
    assert r.poll().unchanged  # the same window in force
    clock.at = t0 + timedelta(minutes=10)  # it has closed
    res = r.poll()
    assert not res.unchanged and res.episodes_closed == 1
    [ep] = HistoryTables(store).episodes_for([told])[told]
    assert (ep["kind"], ep["cause"], ep["ended_at"]) == ("muted", "upbit-weekly", clock.at)
    assert r.poll().unchanged


def test_the_worker_waits_two_intervals_after_an_unchanged_poll(store, alertmanager_factory,
                                                                 tmp_path: Path) -> None:
    _, url = alertmanager_factory(am_config(tmp_path / "am.yml", None))
    AM(url).fire(AM.labels("ExchangeDown", "P1", exchange="upbit"), now() - timedelta(minutes=1))
    stored(store, "upbit", now() - timedelta(minutes=1))
    interval = 0.2
    s = HistorySettings(alertmanager_urls=(url,), reconcile_enabled=True, reconcile_interval_seconds=interval,
                        reconcile_startup_grace_seconds=0.0, reconcile_timeout_seconds=1.0)
    metrics = HistoryMetrics()
    worker = ReconcileWorker(Reconciler(store, s, metrics=metrics), "test-owner").start()
    try:
        wait_for(lambda: metrics.unchanged_polls._value.get() >= 1, 10, "an unchanged poll")
        before = metrics.polls.labels("ok")._value.get()
        time.sleep(2.0)
        polls = metrics.polls.labels("ok")._value.get() - before
    finally:
        worker.stop()
    # at rest every poll is unchanged and followed by two intervals: at most 2.0 / 0.4 + 1 polls (a
    # loaded machine only makes them fewer); without the back-off it would be about ten
    assert 1 <= polls <= 6, polls
