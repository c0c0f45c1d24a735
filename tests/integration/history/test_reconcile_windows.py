"""Episodes muted by a recurring maintenance window, on SQLite and PostgreSQL, with a real Alertmanager
0.25 (which lists a muted alert as `active`, no cause): the reconciler records the alert it never got
as `muted` by the window's name, opens the same episode for an alert told before the window opened,
and closes both when the window closes; the timeline says so."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from tests.support.history import AM, am_config, now, upbit_window_from
from webhook_receiver.alertmanager_api import AlertmanagerClient
from webhook_receiver.history.reconcile import Reconciler
from webhook_receiver.history.settings import HistorySettings
from webhook_receiver.history.timeline import build_timeline
from webhook_receiver.store.episodes import HistoryTables

from .test_reconcile_guards import stored


class Clock:
    """The reconciler's clock: inside the window, then after it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_muted_episodes_open_and_close_with_the_window(store, alertmanager_factory, tmp_path: Path) -> None:
    _, url = alertmanager_factory(am_config(tmp_path / "am.yml", None))
    t0 = now()
    schedule = upbit_window_from(t0)
    clock = Clock(t0)

    def windows(labels: Mapping[str, str], at: datetime) -> list[str]:
        return schedule.muted_by(labels, clock())

    s = HistorySettings(alertmanager_urls=(url,), reconcile_enabled=True, reconcile_missing_polls=2,
                        reconcile_startup_grace_seconds=0.0, reconcile_timeout_seconds=2.0)
    r = Reconciler(store, s, client=AlertmanagerClient([url], timeout=2.0), windows=windows)
    am = AM(url)
    told = stored(store, "upbit", t0 - timedelta(minutes=1))  # told before the window opened
    am.fire(AM.labels("ExchangeDown", "P1", exchange="upbit"), t0 - timedelta(minutes=1))
    am.fire(AM.labels("ExchangeDegraded", "P2", exchange="upbit"), t0)  # never told: muted from the start
    am.fire(AM.labels("ExchangeFrozen", "P0", exchange="binance"), t0)  # not muted: its webhook is on the way
    am.wait_listed("ExchangeFrozen")
    res = r.poll()
    assert len(res.stored) == 1 and res.episodes_opened == 2
    muted_id = res.stored[0]
    assert store.get_alert(muted_id)["labels"]["exchange"] == "upbit"
    eps = HistoryTables(store).episodes_for([told, muted_id])
    assert {(e["alert_id"], e["kind"], e["cause"], e["ended_at"]) for x in eps.values() for e in x} == {
        (told, "muted", "upbit-weekly", None), (muted_id, "muted", "upbit-weekly", None)}
    assert r.poll().episodes_opened == 0  # one episode per alert and window, not one per poll
    clock.at = t0 + timedelta(minutes=10)  # the window has closed
    assert r.poll().episodes_closed == 2
    events = [(e["event"], e.get("window")) for e in build_timeline(store, muted_id)["events"]]
    assert ("muted", "upbit-weekly") in events and ("mute_ended", "upbit-weekly") in events
