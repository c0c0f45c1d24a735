"""What must never resolve history: an Alertmanager that cannot be reached, a freshly started (or
restarted) one that is still empty, one replica of a cluster that lacks what another has. Real
Alertmanager 0.25 processes; the reconciler's polls are driven one by one."""
from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from local_stack.processes import free_port, start_alertmanager
from tests.support.fakes.payloads import am_alert, am_payload
from tests.support.history import AM, am_config, am_fingerprint, iso, now
from webhook_receiver.alertmanager_api import AlertmanagerClient
from webhook_receiver.history.reconcile import Reconciler
from webhook_receiver.history.settings import HistorySettings
from webhook_receiver.payload import parse_alertmanager_payload


def reconciler(store, *urls: str, grace: float = 150.0, polls: int = 2) -> Reconciler:
    s = HistorySettings(alertmanager_urls=tuple(urls), reconcile_enabled=True, reconcile_missing_polls=polls,
                        reconcile_startup_grace_seconds=grace, reconcile_timeout_seconds=1.0)
    return Reconciler(store, s, client=AlertmanagerClient(list(urls), timeout=1.0))


def stored(store, exchange: str, starts) -> int:
    """An alert told by a webhook (as Alertmanager would have: its fingerprint) and stored firing."""
    a = am_alert("ExchangeDown", "P1", starts_at=iso(starts), labels={"exchange": exchange})
    a["labels"] = AM.labels("ExchangeDown", "P1", exchange=exchange)
    a["fingerprint"] = am_fingerprint(a["labels"])
    res = store.ingest(parse_alertmanager_payload(am_payload(a)))
    return res.changes[0].alert_id


def test_our_fingerprint_is_alertmanagers(alertmanager_factory, tmp_path: Path) -> None:
    _, url = alertmanager_factory(am_config(tmp_path / "am.yml", None))
    labels = AM.labels("ExchangeDown", "P1", exchange="업비트", route="a-b-C")
    AM(url).fire(labels, now())
    [listed] = AM(url).alerts()
    assert listed["fingerprint"] == am_fingerprint(labels)


def status(store, alert_id: int) -> str:
    return store.get_alert(alert_id)["status"]


def test_unreachable_alertmanager_resolves_nothing(store) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    aid = stored(store, "upbit", now() - timedelta(minutes=10))
    r = reconciler(store, dead, grace=0.0, polls=1)
    for _ in range(5):
        res = r.poll()
        assert res.skipped and res.reachable == 0
    assert status(store, aid) == "firing"


def test_a_fresh_empty_alertmanager_resolves_nothing_until_its_grace_has_passed(store, alertmanager_factory,
                                                                                   tmp_path: Path) -> None:
    _, url = alertmanager_factory(am_config(tmp_path / "am.yml", None))
    aid = stored(store, "upbit", now() - timedelta(minutes=10))
    young = reconciler(store, url, grace=120.0, polls=1)
    for _ in range(4):  # empty, but it has never listed the alert and is younger than the grace
        assert young.poll().resolved == []
    assert status(store, aid) == "firing"
    # the same Alertmanager, once up longer than the grace: its emptiness now means "gone"
    time.sleep(1.2)
    old = reconciler(store, url, grace=1.0, polls=2)
    assert old.poll().resolved == []  # first missing poll
    assert old.poll().resolved == [aid]  # second: resolved
    a = store.get_alert(aid)
    assert a["reconciled_at"] is not None and a["ends_at"] == a["last_received_at"]  # last evidence: the webhook


def test_a_restarted_alertmanager_does_not_resolve_what_it_forgot(store, tmp_path: Path) -> None:
    port = free_port()
    cfg = am_config(tmp_path / "am.yml", None)
    proc = start_alertmanager(cfg, port, tmp_path / "am-data", tmp_path / "am.log")
    try:
        url = f"http://127.0.0.1:{port}"
        am = AM(url)
        start = now() - timedelta(minutes=5)
        aid = stored(store, "upbit", start)
        am.fire(AM.labels("ExchangeDown", "P1", exchange="upbit"), start)
        r = reconciler(store, url, grace=120.0, polls=2)
        assert r.poll().resolved == [] and r.replicas[0].seen  # it listed the alert
        proc.stop()
        assert r.poll().skipped  # down: nothing changes
        proc = start_alertmanager(cfg, port, tmp_path / "am-data", tmp_path / "am.log")  # empty again
        for _ in range(4):
            res = r.poll()
            assert res.reachable == 1 and res.resolved == []
        assert status(store, aid) == "firing" and not r.replicas[0].seen  # its restart was noticed
        # Prometheus resends; the restarted replica has it again, then the condition ends
        am.fire(AM.labels("ExchangeDown", "P1", exchange="upbit"), start)
        assert r.poll().resolved == []
        am.end(AM.labels("ExchangeDown", "P1", exchange="upbit"), start)
        assert r.poll().resolved == [] and r.poll().resolved == [aid]  # now it knew it and let go
    finally:
        proc.stop()


def test_one_replica_lacking_an_alert_does_not_hide_it(store, alertmanager_factory, tmp_path: Path) -> None:
    _, a_url = alertmanager_factory(am_config(tmp_path / "a.yml", None))
    b_proc, b_url = alertmanager_factory(am_config(tmp_path / "b.yml", None))
    start = now() - timedelta(minutes=5)
    aid = stored(store, "okx", start)
    labels = AM.labels("ExchangeDown", "P1", exchange="okx")
    AM(b_url).fire(labels, start)  # only replica B heard from Prometheus
    time.sleep(1.1)
    r = reconciler(store, a_url, b_url, grace=1.0, polls=1)  # A is empty and past its grace
    for _ in range(3):
        assert r.poll().resolved == []  # the union: B has it
    AM(a_url).fire(labels, start)
    b_proc.stop()  # B goes away; A has it too
    for _ in range(3):
        res = r.poll()
        assert res.resolved == [] and res.unreachable == 1
    AM(a_url).end(labels, start)
    assert r.poll().resolved == [aid]


def test_webhook_racing_a_poll_is_not_missing(store, alertmanager_factory, tmp_path: Path) -> None:
    _, url = alertmanager_factory(am_config(tmp_path / "am.yml", None))
    time.sleep(1.1)
    r = reconciler(store, url, grace=1.0, polls=1)
    r.now = lambda: now() - timedelta(seconds=5)  # the poll "began" before the webhook arrived
    aid = stored(store, "kraken", now() - timedelta(minutes=1))
    assert r.poll().resolved == [] and status(store, aid) == "firing"


def test_only_told_alerts_have_their_reconciled_end_told(store, alertmanager_factory, tmp_path: Path) -> None:
    """A reconciled resolve goes through the ingest hook (notifications) like a resolve webhook, but
    not for a heartbeat (Watchdog, severity none: it would feed the dead man's switch) nor for an
    alert that was never told."""
    _, url = alertmanager_factory(am_config(tmp_path / "am.yml", None))
    aid = stored(store, "upbit", now() - timedelta(minutes=3))
    wd = am_alert("Watchdog", "none", source="system", starts_at=iso(now() - timedelta(hours=1)))
    wd["fingerprint"] = am_fingerprint(wd["labels"])
    wid = store.ingest(parse_alertmanager_payload(am_payload(wd))).changes[0].alert_id
    seen: list = []
    time.sleep(1.1)
    s = HistorySettings(alertmanager_urls=(url,), reconcile_enabled=True, reconcile_missing_polls=1,
                        reconcile_startup_grace_seconds=1.0)
    r = Reconciler(store, s, hook=lambda: (lambda tx, changes, payload: seen.extend(changes)))
    assert sorted(r.poll().resolved) == sorted([aid, wid])
    assert [(c.alert_id, c.kind, c.status) for c in seen] == [(aid, "resolved", "resolved")]


def test_an_open_episode_is_kept_current_when_its_silence_is_extended(store, alertmanager_factory,
                                                                       tmp_path: Path) -> None:
    """Polls that find nothing changed write nothing for an open episode; an extended silence (same
    id, later end) is written to it."""
    import requests

    from webhook_receiver.store.episodes import HistoryTables

    _, url = alertmanager_factory(am_config(tmp_path / "am.yml", None))
    am = AM(url)
    sid = am.silence("kim", "bybit maintenance", exchange="bybit")
    start = now() - timedelta(minutes=2)
    aid = stored(store, "bybit", start)
    am.fire(AM.labels("ExchangeDown", "P1", exchange="bybit"), start)
    am.wait_listed("ExchangeDown", "suppressed")
    r = reconciler(store, url)
    assert r.poll().episodes_opened == 1
    [ep] = HistoryTables(store).episodes_for([aid])[aid]
    assert (ep["cause"], ep["silence_created_by"], ep["ended_at"]) == (sid, "kim", None)
    res = r.poll()
    assert (res.episodes_opened, res.episodes_closed) == (0, 0)
    assert HistoryTables(store).episodes_for([aid])[aid] == [ep]
    sil = requests.get(f"{url}/api/v2/silence/{sid}", timeout=5).json()
    later = now() + timedelta(hours=3)
    r2 = requests.post(f"{url}/api/v2/silences", json={
        "id": sid, "matchers": sil["matchers"], "startsAt": sil["startsAt"], "endsAt": iso(later),
        "createdBy": "kim", "comment": "bybit maintenance, longer"}, timeout=5)
    assert r2.status_code == 200 and r2.json()["silenceID"] == sid, r2.text
    res = reconciler(store, url).poll()  # a fresh reconciler: no silence cached
    assert (res.episodes_opened, res.episodes_closed) == (0, 0)
    [again] = HistoryTables(store).episodes_for([aid])[aid]
    assert again["id"] == ep["id"] and again["silence_ends_at"] == later.replace(
        microsecond=later.microsecond - later.microsecond % 1000)
