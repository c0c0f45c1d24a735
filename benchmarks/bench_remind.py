"""Reminders of 1,000 unacknowledged alerts: how late each is told beyond what Telegram's pacing requires.

Stack: a throwaway PostgreSQL 15 cluster, the receiver app (create_app, notifications on) under
waitress on loopback, the fake Bot API enforcing Telegram's limits (about 1 message a second per
chat, 20 a minute per group, 30 a second per bot: a call past them gets a 429). Each severity has its
chat (telegram routes) and a `remind_every` (P0 30s, P1 45s, P2 and P3 60s). 1,000 alerts (250 per
severity, each with its own `exchange` value) arrive in ten webhooks; their pages go out packed; then
each alert's first reminder falls due and goes out packed with the others due with it.

For each alert: `due` is its reminder's due time (the follow-up row), `told` when the fake accepted
the sendMessage that named it. `lateness = told - due`. Telegram's pacing alone may require a
message to wait: `floor` is the earliest time Telegram's limits allowed that sendMessage given every
call made to that chat before it (1 s after the previous call, and no 21st call within 60 s), and
`beyond pacing = told - max(due, floor)`: what the receiver itself adds (the follow-up worker's wake,
its claim transaction, the dispatcher, rendering, HTTP). Goal: p99 beyond pacing < 1 s.
Set BENCH_REMIND_ALERTS (default 1000) to change the count.
"""
from __future__ import annotations

import os
import re
import statistics
import threading
import time
from collections import defaultdict

import requests

from benchmarks.common import nearest_rank, postgres_cluster, scratch_dir

__all__ = ["main"]

SEVERITIES = ("P0", "P1", "P2", "P3")
REMIND = {"P0": "30s", "P1": "45s", "P2": "60s", "P3": "60s"}
CHATS = {"P0": "-1000", "P1": "-1001", "P2": "-1002", "P3": "-1003"}
TELEGRAM_MIN_INTERVAL = 1.0  # what Telegram requires between two calls to a chat
TELEGRAM_PER_MINUTE = 20     # ... and at most this many in any 60 s (a group)
SENDS = ("sendMessage", "editMessageText", "sendPhoto")


def _channel_map() -> str:
    lines = ["severities:"]
    lines += [f"  {s}: {{channels: [telegram], share_per_minute: 10, quiet: false, remind_every: {REMIND[s]}}}"
              for s in SEVERITIES]
    lines += ["telegram:", "  routes:"]
    lines += [f"  - {{severities: [{s}], chat: \"{CHATS[s]}\"}}" for s in SEVERITIES]
    return "\n".join(lines) + "\n"


def _floor(calls: list[float], at: float) -> float:
    """The earliest time Telegram allows a call to a chat whose earlier calls were at `calls` (sorted)."""
    before = [t for t in calls if t < at]
    floor = 0.0
    if before:
        floor = before[-1] + TELEGRAM_MIN_INTERVAL
    if len(before) >= TELEGRAM_PER_MINUTE:
        floor = max(floor, before[-TELEGRAM_PER_MINUTE] + 60.0)
    return floor


def main() -> None:
    from waitress.server import create_server

    from tests.support.fakes import FakeTelegram
    from tests.support.fakes.payloads import am_alert, am_payload
    from webhook_receiver.app import create_app
    from webhook_receiver.settings import load_settings

    n_alerts = int(os.environ.get("BENCH_REMIND_ALERTS", "1000"))
    per = max(1, n_alerts // len(SEVERITIES))
    word = re.compile(r"\bb\d{4}\b")
    with scratch_dir("d76-bench-remind-") as tmp, postgres_cluster(tmp) as cluster, FakeTelegram() as tg:
        tg.enforce_limits()
        cmap = tmp / "channel_map.yml"
        cmap.write_text(_channel_map())
        app = create_app(load_settings({
            "DATABASE_URL": cluster.url, "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_CHAT_ID": CHATS["P0"],
            "TELEGRAM_API_URL": tg.api_url, "TELEGRAM_POLLING": "false", "DEADMAN_ENABLED": "false",
            "CHANNEL_MAP_FILE": str(cmap), "HISTORY_PRUNE": "false"}))
        server = create_server(app, host="127.0.0.1", port=0, threads=4)
        threading.Thread(target=server.run, daemon=True).start()
        url = f"http://127.0.0.1:{server.effective_port}/webhook/alertmanager"
        offset = time.time() - time.monotonic()  # wall -> the fake's monotonic clock
        try:
            alerts = [am_alert("ExchangeFrozen", sev, labels={"exchange": f"b{i * per + k:04d}"},
                               annotations={"summary": f"b{i * per + k:04d} is FROZEN"})
                      for i, sev in enumerate(SEVERITIES) for k in range(per)]
            t0 = time.monotonic()
            session = requests.Session()
            for chunk in range(0, len(alerts), 100):
                r = session.post(url, json=am_payload(*alerts[chunk:chunk + 100]), timeout=30)
                assert r.status_code == 200, r.text
            ingested = time.monotonic() - t0
            names = {a["labels"]["exchange"] for a in alerts}

            def reminded() -> set[str]:
                return {v for m in list(tg.messages) if m.sent_visible_text.startswith("🔁")
                        for v in word.findall(m.sent_visible_text)}

            deadline = time.monotonic() + 240
            while reminded() != names and time.monotonic() < deadline:
                time.sleep(0.5)
            elapsed = time.monotonic() - t0
            store = app.extensions["d76_receiver"].store
            with store.transaction(write=False) as tx:
                rows = tx.fetchall("SELECT a.labels, a.severity, f.due_at FROM alert_followups f "
                                   "JOIN alerts a ON a.id = f.alert_id "
                                   "WHERE f.kind = 'reminder' AND f.step = 1 AND f.status = 'done'")
        finally:
            server.close()
            app.extensions["d76_receiver"].close()

    due = {store.dialect.json_out(r["labels"])["exchange"]: (r["severity"], r["due_at"].timestamp() - offset)
           for r in rows}
    calls: dict[str, list[float]] = defaultdict(list)
    for req in tg.requests:
        method = req.path.rsplit("/", 1)[-1]
        if method in SENDS and "chat_id" in req.params:
            calls[str(req.params["chat_id"])].append(req.at)
    for c in calls.values():
        c.sort()
    arrival = {(str(q.params.get("chat_id")), q.params.get("text")): q.at for q in tg.method_calls("sendMessage")}
    told: dict[str, tuple[float, float]] = {}  # value -> (accepted, floor)
    for m in tg.messages:
        if not m.sent_visible_text.startswith("🔁"):
            continue
        at = arrival.get((m.chat_id, m.sent_text), m.at)
        for v in word.findall(m.sent_visible_text):
            told.setdefault(v, (m.at, _floor(calls[m.chat_id], at)))
    late: dict[str, list[float]] = defaultdict(list)
    beyond: dict[str, list[float]] = defaultdict(list)
    for v, (sev, d) in due.items():
        if v in told:
            accepted, floor = told[v]
            late[sev].append(accepted - d)
            beyond[sev].append(accepted - max(d, floor))
    every_late = [x for xs in late.values() for x in xs]
    every_beyond = [x for xs in beyond.values() for x in xs]
    reminder_messages = sum(1 for m in tg.messages if m.sent_visible_text.startswith("🔁"))
    print(f"alerts: {len(alerts)} ({per} per severity, one chat each), ingested in {ingested:.2f} s; "
          f"reminders P0 {REMIND['P0']}, P1 {REMIND['P1']}, P2/P3 {REMIND['P2']}")
    print(f"first reminders told: {len(told)}/{len(names)} in {reminder_messages} packed messages; "
          f"followed for {elapsed:.0f} s; 429s: {len(tg.rate_limited)}")
    print(f"{'severity':<9} {'n':>4} {'lateness p50':>13} {'p99':>8} {'max':>8} {'beyond pacing p50':>18} {'p99':>8} "
          f"{'max':>8}")
    for sev in SEVERITIES:
        if late[sev]:
            print(f"{sev:<9} {len(late[sev]):>4} {statistics.median(late[sev]):>12.2f}s "
                  f"{nearest_rank(late[sev], 0.99):>7.2f}s {max(late[sev]):>7.2f}s "
                  f"{statistics.median(beyond[sev]):>17.3f}s {nearest_rank(beyond[sev], 0.99):>7.3f}s "
                  f"{max(beyond[sev]):>7.3f}s")
    if every_late:
        p99 = nearest_rank(every_beyond, 0.99)
        print(f"{'all':<9} {len(every_late):>4} {statistics.median(every_late):>12.2f}s "
              f"{nearest_rank(every_late, 0.99):>7.2f}s {max(every_late):>7.2f}s "
              f"{statistics.median(every_beyond):>17.3f}s {p99:>7.3f}s {max(every_beyond):>7.3f}s  "
              f"(goal p99 beyond pacing < 1 s: {'met' if p99 < 1.0 else 'NOT met'})")
