"""Events are never lost (issue 19): 100 events sent while Alertmanager is down, the sending process
SIGKILLed part way and a new one started, then Alertmanager started: all 100 reach Alertmanager and
the receiver's history once each, in order, and none is later told as resolved.

A real stack (`d76 stack up`: receiver, Alertmanager, Prometheus) with the fake Bot API as Telegram;
the bot is two real Python processes calling `exporter.events.send_alert` on one spool file."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from local_stack.runner import Stack, StackConfig
from tests.support import paths
from tests.support.fakes.telegram import FakeTelegram
from tests.support.waiting import until

CHAT = "-1005006007"
N, FIRST_PROCESS = 100, 60
TTL_SECONDS = 20  # the events end 20 s after delivery, so their end is seen within the test

# the bot: event i, with the severities and sources spelled every way the API accepts; event 0 is
# the seeds' own example, enums and all
BOT = r"""
import sys, time
from datetime import timedelta
from exporter.events import AlertSeverity, AlertSource, configure, flush, send_alert

spool, am, first, last, wait = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
configure(spool=spool, alertmanager_url=am, strict=True, ttl=timedelta(seconds=%(ttl)d))
SEVERITIES = [AlertSeverity.P1, "error", "P0", "critical", AlertSeverity.CRITICAL, "p1", "ERROR"]
SOURCES = [AlertSource.RISK_GUARD, "CrossSync", "rate_limiter", AlertSource.SYSTEM_MONITOR, "ARB_ROUTE"]
for i in range(first, last):
    if i == 0:
        ok = send_alert(severity=AlertSeverity.P0, source=AlertSource.HEALTH_MONITOR, title="Exchange FROZEN",
                        message="UPBIT API not responding", metadata={"exchange": "UPBIT", "latency_ms": 2500, "n": 0})
    else:
        ok = send_alert(SEVERITIES[i %% len(SEVERITIES)], SOURCES[i %% len(SOURCES)], f"Bot event {i:03d}",
                        f"event number {i}", {"n": i})
    assert ok, i
print("spooled", last - first, flush=True)
if wait:
    print("left", flush(wait), flush=True)
else:
    time.sleep(600)  # killed here, its sender backing off against the dead Alertmanager
""" % {"ttl": TTL_SECONDS}


def _title(i: int) -> str:
    return "Exchange FROZEN" if i == 0 else f"Bot event {i:03d}"


TITLES = [_title(i) for i in range(N)]
NAMES = {"ExchangeFROZEN" if i == 0 else f"BotEvent{i:03d}" for i in range(N)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[tuple[Stack, FakeTelegram]]:
    tmp = tmp_path_factory.mktemp("spool")
    with FakeTelegram() as tg:
        cfg = StackConfig.with_free_ports(
            tmp / "stack", receiver_env={"TELEGRAM_API_URL": tg.api_url, "TELEGRAM_BOT_TOKEN": tg.token,
                                         "TELEGRAM_CHAT_ID": CHAT, "TELEGRAM_POLLING": "false",
                                         "TELEGRAM_CHAT_PER_MINUTE": "600", "TELEGRAM_CHAT_MIN_INTERVAL_SECONDS": "0.2",
                                         "DEADMAN_TIMEOUT_SECONDS": "600"})
        s = Stack(cfg).up()
        try:
            yield s, tg
        finally:
            s.down()


def _bot(spool: str, am: str, first: int, last: int, wait: float) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", BOT, spool, am, str(first), str(last), str(wait)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=paths.REPO)


def _line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line, proc.stderr.read() if proc.stderr else "no output"
    return line


def _events_in_alertmanager(am: str) -> list[dict]:
    alerts = requests.get(f"{am}/api/v2/alerts", timeout=10).json()
    return [a for a in alerts if a["labels"].get("event") == "true"]


def _history(stack: Stack) -> list[dict]:
    r = stack.api("GET", "/api/alerts", params={"limit": 500})
    assert r.status_code == 200, r.text
    return [a for a in r.json()["alerts"] if a["alertname"] in NAMES]


def _wait(pred, timeout: float, what: str):
    return until(pred, timeout, 0.5, what)


def test_a_hundred_events_survive_alertmanager_down_and_a_killed_bot(stack, tmp_path):
    s, tg = stack
    am = s.url("alertmanager")
    spool = str(tmp_path / "bot-events.sqlite3")
    s.kill("alertmanager")

    # the first bot process spools 60 events, cannot deliver them, and is killed
    first = _bot(spool, am, 0, FIRST_PROCESS, wait=0)
    try:
        assert _line(first) == f"spooled {FIRST_PROCESS}"
        time.sleep(2)  # its sender has tried (and failed) a few times
    finally:
        first.kill()  # SIGKILL: no atexit, no flush
        first.wait(10)
    left = sqlite3.connect(spool).execute("SELECT count(*) FROM events").fetchone()[0]
    assert left == FIRST_PROCESS

    # a new process spools the other 40 and waits; Alertmanager comes back meanwhile
    second = _bot(spool, am, FIRST_PROCESS, N, wait=120)
    try:
        assert _line(second) == f"spooled {N - FIRST_PROCESS}"
        s.start("alertmanager")
        assert _line(second) == "left 0"
        assert second.wait(30) == 0
    finally:
        if second.poll() is None:
            second.kill()
            second.wait(10)

    # all 100 in Alertmanager, once each, the seeds' example as written
    in_am = _events_in_alertmanager(am)
    names = [a["labels"]["alertname"] for a in in_am]
    assert sorted(names) == sorted(NAMES), f"{len(names)} events in Alertmanager"
    seed = next(a for a in in_am if a["labels"]["alertname"] == "ExchangeFROZEN")
    assert seed["labels"] == {"alertname": "ExchangeFROZEN", "severity": "P0", "source": "exchange_health",
                                   "event": "true", "exchange": "UPBIT"}
    assert seed["annotations"]["latency_ms"] == "2500" and seed["annotations"]["description"] == \
        "UPBIT API not responding"
    # in order: each a millisecond at least after the one sent before it
    starts = {a["annotations"]["summary"]: a["startsAt"] for a in in_am}
    assert [starts[t] for t in TITLES] == sorted(starts.values()) and len(set(starts.values())) == N

    # all 100 in the receiver's history, once each, in the order they were sent
    rows = _wait(lambda: (lambda h: h if len(h) >= N else None)(_history(s)), 90, "100 events in history")
    assert len(rows) == N and len({r["id"] for r in rows}) == N
    by_start = sorted(rows, key=lambda r: r["starts_at"])
    assert [r["annotations"]["summary"] for r in by_start] == TITLES

    # their end passes: history keeps it, and nothing tells them "resolved"
    ended = _wait(lambda: (lambda h: h if sum(r["status"] == "resolved" for r in h) == N else None)(_history(s)),
                  150, "the events' end recorded in history")
    assert all(r["ends_at"] for r in ended)
    db = s.database_url()
    assert db and db.startswith("sqlite:///")
    with sqlite3.connect(db[len("sqlite:///"):]) as conn:
        kinds = conn.execute("SELECT n.kind, count(*) FROM notifications n JOIN alerts a ON a.id = n.alert_id "
                             "WHERE a.alertname IN (%s) GROUP BY n.kind" % ",".join("?" * N), sorted(NAMES)).fetchall()
    assert dict(kinds).get("firing", 0) == N and "resolved" not in dict(kinds), kinds
    time.sleep(5)  # anything queued at the end has had time to go out
    texts = [m.sent_visible_text for m in tg.messages] + [m.visible_text for m in tg.messages]
    told = [t for t in texts if any(name in t for name in NAMES) or any(title in t for title in TITLES)]
    assert told, "the events were told to Telegram"
    assert not [t for t in told if "RESOLVED" in t.upper()], [t[:120] for t in told if "RESOLVED" in t.upper()]
    assert json.dumps(tg.edits).upper().count("RESOLVED") == 0
