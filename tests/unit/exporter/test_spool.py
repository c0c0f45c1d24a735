"""The event spool: durable, ordered, bounded (least severe and oldest dropped first), delivered by one
sender per file that backs off, skips what Alertmanager refuses, and hands over when its process dies.
The network is a callable given to the sender here; tests/integration/exporter/test_event_spool.py
runs the real thing against Alertmanager and the receiver."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from exporter.events import EventError, EventSender, build_alert
from exporter.spool import EventSpool, PostOutcome, SpooledEvent, SpoolSender, ready_to_post
from local_stack.processes import free_port

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def _alert(title: str, severity: str = "P1") -> dict:
    return build_alert(severity, "system", title, "m", now=NOW)


def _titles(spool: EventSpool) -> list[str]:
    return [e.alert["annotations"]["summary"] for e in spool.oldest(1000)]


class Recorder:
    """Alertmanager as a callable: records each post, answers from `outcome(titles)`."""

    def __init__(self, outcome=lambda titles: PostOutcome.ACCEPTED) -> None:
        self.outcome = outcome
        self.posts: list[tuple[float, str, list[str]]] = []
        self.lock = threading.Lock()

    def __call__(self, target: str, alerts: list[dict]) -> str:
        titles = [a["annotations"]["summary"] for a in alerts]
        with self.lock:
            self.posts.append((time.monotonic(), target, titles))
        return self.outcome(titles)

    def delivered(self) -> list[str]:
        return [t for _, _, titles in self.posts for t in titles]


def _wait(pred, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_events_survive_a_reopen_in_order(tmp_path):
    spool = EventSpool(tmp_path / "s.sqlite3")
    for i in range(5):
        spool.put(_alert(f"e{i}"), "P1", "http://am", 900)
    spool.close()
    again = EventSpool(tmp_path / "s.sqlite3")
    assert _titles(again) == [f"e{i}" for i in range(5)] and again.count() == 5
    [first] = again.oldest(1)
    assert first.target == "http://am" and first.ttl == 900 and first.severity == "P1"


def test_the_bound_drops_the_oldest_of_the_least_severe(tmp_path):
    spool = EventSpool(tmp_path / "s.sqlite3", max_events=4)
    for title, sev in (("p3-old", "P3"), ("p0-a", "P0"), ("p3-new", "P3"), ("p2", "P2")):
        assert spool.put(_alert(title, sev), sev, "u", 60)[1] == []
    _, dropped = spool.put(_alert("p1", "P1"), "P1", "u", 60)
    assert [s for _, s in dropped] == ["P3"] and _titles(spool) == ["p0-a", "p3-new", "p2", "p1"]
    _, dropped = spool.put(_alert("p0-b", "P0"), "P0", "u", 60)
    assert [s for _, s in dropped] == ["P3"] and _titles(spool) == ["p0-a", "p2", "p1", "p0-b"]
    spool.put(_alert("p0-c", "P0"), "P0", "u", 60)
    spool.put(_alert("p0-d", "P0"), "P0", "u", 60)
    assert _titles(spool) == ["p0-a", "p0-b", "p0-c", "p0-d"]
    # everything waiting is more severe: the newcomer itself is dropped
    new_id, dropped = spool.put(_alert("late p3", "P3"), "P3", "u", 60)
    assert dropped == [(new_id, "P3")] and spool.count() == 4
    # a full spool of P0s: the oldest P0 makes room for a new one
    _, dropped = spool.put(_alert("p0-e", "P0"), "P0", "u", 60)
    assert [s for _, s in dropped] == ["P0"] and _titles(spool) == ["p0-b", "p0-c", "p0-d", "p0-e"]


def test_a_late_event_stays_open_after_delivery():
    e = SpooledEvent(1, "P1", "u", 20.0, _alert("x"))
    on_time = ready_to_post(e, NOW + timedelta(seconds=1))
    assert on_time["endsAt"] == "2026-11-23T06:00:21.000Z"  # starts + ttl
    late = ready_to_post(e, NOW + timedelta(hours=1))
    assert late["endsAt"] == "2026-11-23T07:00:20.000Z"  # delivery + ttl (shorter than 5 min)
    long = SpooledEvent(1, "P1", "u", 3600.0, _alert("x"))
    assert ready_to_post(long, NOW + timedelta(hours=2))["endsAt"] == "2026-11-23T08:05:00.000Z"


def test_the_sender_delivers_in_order_and_keeps_targets_apart(tmp_path):
    spool = EventSpool(tmp_path / "s.sqlite3")
    for i in range(250):
        spool.put(_alert(f"e{i:03d}"), "P1", "http://a" if i < 120 or i >= 130 else "http://b", 60)
    am = Recorder()
    sender = SpoolSender(spool, am).start()
    try:
        _wait(lambda: spool.count() == 0)
    finally:
        sender.stop()
    assert am.delivered() == [f"e{i:03d}" for i in range(250)]
    assert [(target, len(titles)) for _, target, titles in am.posts] == [
        ("http://a", 100), ("http://a", 20), ("http://b", 10), ("http://a", 100), ("http://a", 20)]


def test_the_sender_backs_off_and_never_busy_loops(tmp_path):
    spool = EventSpool(tmp_path / "s.sqlite3")
    spool.put(_alert("e"), "P1", "u", 60)
    am = Recorder(lambda titles: PostOutcome.FAILED)
    sender = SpoolSender(spool, am, min_backoff=0.05, max_backoff=0.4).start()
    try:
        time.sleep(1.6)
        for i in range(50):  # new events do not shorten a back-off
            spool.put(_alert(f"more {i}"), "P1", "u", 60)
            sender.wake()
        time.sleep(0.4)
    finally:
        sender.stop()
    times = [t for t, _, _ in am.posts]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert 4 <= len(times) <= 10, len(times)  # 0.05, 0.1, 0.2, 0.4, 0.4, ...: about 7 tries in 2 s
    assert all(g >= 0.04 for g in gaps) and max(gaps) >= 0.35
    assert spool.count() == 51  # nothing removed while Alertmanager fails


def test_what_alertmanager_refuses_is_dropped_alone(tmp_path):
    spool = EventSpool(tmp_path / "s.sqlite3")
    for t in ("a", "bad", "c"):
        spool.put(_alert(t), "P2", "u", 60)
    refused: list[list[str]] = []
    am = Recorder(lambda titles: PostOutcome.REFUSED if "bad" in titles else PostOutcome.ACCEPTED)
    sender = SpoolSender(spool, am, on_refused=refused.append).start()
    try:
        _wait(lambda: spool.count() == 0)
    finally:
        sender.stop()
    assert am.delivered() == ["a", "bad", "c", "a", "bad", "c"]  # the batch, then one by one
    assert refused == [["P2"]]


def test_one_sender_per_file_and_the_next_takes_over_when_the_holder_dies(tmp_path):
    path = tmp_path / "s.sqlite3"
    spool = EventSpool(path)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(path) + '.lock'!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        spool.put(_alert("waiting"), "P0", "u", 60)
        am = Recorder()
        sender = SpoolSender(spool, am, poll_interval=0.1).start()
        time.sleep(0.5)
        assert am.posts == [] and not sender.holds_lock  # the live holder sends, not us
        holder.kill()  # SIGKILL: the kernel releases its lock
        holder.wait(10)
        _wait(lambda: spool.count() == 0, timeout=5)
        assert am.delivered() == ["waiting"] and sender.holds_lock
        sender.stop()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)


# -- EventSender: the bot's side ---------------------------------------------------------------------
def _value(reg: CollectorRegistry, name: str, labels: dict | None = None) -> float | None:
    return reg.get_sample_value(name, labels or {})


def test_the_bot_side_spools_counts_and_never_raises(tmp_path):
    reg = CollectorRegistry()
    nowhere = f"http://127.0.0.1:{free_port()}"
    s = EventSender(nowhere, spool=tmp_path / "s.sqlite3", registry=reg, max_events=3)
    assert s.send("critical", "HealthMonitor", "Exchange FROZEN", "UPBIT API not responding",
                  {"exchange": "upbit"}) is True
    [e] = s.spool.oldest()
    assert e.alert["labels"] == {"alertname": "ExchangeFROZEN", "severity": "P0", "source": "exchange_health",
                                 "event": "true", "exchange": "upbit"}
    assert _value(reg, "d75_events_spooled") == 1
    # refused as given: False, counted by reason, logged
    assert s.send("P9", "system", "t", "m") is False
    assert s.send("P1", "trading", "t", "m") is False
    assert s.send("P1", "system", "  ", "m") is False
    assert s.send("P1", "system", "t", "m", {"exchange": 5}) is False
    assert [_value(reg, "d75_events_rejected_total", {"reason": r}) for r in ("severity", "source", "title",
                                                                              "metadata")] == [1, 1, 1, 1]
    # the bound: 3 events; a fourth P3 (everything else is more severe) is itself dropped
    assert s.send("P1", "system", "a", "m") and s.send("P2", "system", "b", "m")
    assert s.send("info", "system", "c", "m") is False
    assert _value(reg, "d75_events_dropped_total", {"severity": "P3"}) == 1 and _value(reg, "d75_events_spooled") == 3
    # flush: Alertmanager is unreachable, so all three are still there after the timeout
    t0 = time.monotonic()
    assert s.flush(0.3) == 3 and time.monotonic() - t0 < 2
    # events a millisecond apart at least: their order survives Alertmanager's precision
    starts = [ev.alert["startsAt"] for ev in s.spool.oldest()]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)


def test_strict_mode_raises(tmp_path):
    s = EventSender("http://127.0.0.1:1", spool=tmp_path / "s.sqlite3", strict=True)
    with pytest.raises(EventError, match="severity must be one of"):
        s.send("debug", "system", "t", "m")
    with pytest.raises(EventError, match="source must be one of"):
        s.send("P1", "nonsense", "t", "m")


def test_a_spool_that_cannot_be_written_loses_the_event_loudly(tmp_path):
    reg = CollectorRegistry()
    s = EventSender("http://127.0.0.1:1", spool=tmp_path / "s.sqlite3", registry=reg)
    s.spool.close()  # the file is gone from under it (disk failure, a closed handle)
    assert s.send("P0", "system", "t", "m") is False
    assert _value(reg, "d75_events_dropped_total", {"severity": "P0"}) == 1
    strict = EventSender("http://127.0.0.1:1", spool=tmp_path / "t.sqlite3", strict=True)
    strict.spool.close()
    with pytest.raises(Exception):  # noqa: B017 - sqlite3's own error, whatever it is
        strict.send("P0", "system", "t", "m")
