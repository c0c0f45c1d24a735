"""Incident-grade delivery under Telegram's real limits, side by side with Alertmanager's native
`telegram_configs` in the same run.

Two Alertmanagers with the same generated routing (grouping, group_wait, inhibitions): one posts to
our receiver (PostgreSQL, its own process), the other uses Alertmanager's own Telegram notifier.
Each talks to its own fake Bot API that enforces Telegram's limits (about 1 message a second and 20
a minute per group chat, 30 a second per bot; 429 with `retry_after` past them). Alerts are posted to
both Alertmanagers at the same moment, the way Prometheus sends them.

1. `p0`: 20 distinct P0 alerts (20 frozen exchanges) 1.2 s apart. Per alert: webhook -> sendMessage
   (ours; the receiver's stored time of the alert to the fake's arrival) and post -> sendMessage
   (both sides). Goal: each within 1 s of its webhook.
2. `storm`: 300 alerts (30 P0, 90 P1, 180 P2 over 30 exchanges) posted within 10 s. When every P0 and
   every alert was first named in a message, 429s received, alerts never named, rows in history.
   Goal: all P0 named within 30 s, all 300 within 3 minutes, zero 429s, zero lost.

Run: `.venv/bin/python -m benchmarks.run storm` (about 5 minutes).
"""
from __future__ import annotations

import os
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import yaml

from benchmarks.common import postgres_cluster, scratch_dir
from catalog import load_catalog, render_alertmanager_config
from local_stack.processes import ManagedProcess, PostgresCluster, free_port, start_alertmanager, wait_http_ok
from tests.support.fakes import FakeTelegram

CHAT = "-1001"
TOKEN = "bench-receiver-token"
STORM_SECONDS = 10.0
STORM_DEADLINE = 180.0


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Side:
    name: str
    tg: FakeTelegram
    am_url: str
    told: dict[str, float] = field(default_factory=dict)  # token -> monotonic time first named

    def scan(self, tokens: list[str]) -> None:
        for m in list(self.tg.messages):
            text = m.text
            for t in tokens:
                if t not in self.told and re.search(rf"\b{re.escape(t)}\b", text):
                    self.told[t] = m.at


def _native_config(ours: str, api_url: str, bot_token: str) -> str:
    """Our generated Alertmanager config with every webhook receiver replaced by Alertmanager's own
    Telegram notifier: same routes, grouping, timing and inhibitions."""
    doc = yaml.safe_load(ours)
    for r in doc["receivers"]:
        r.pop("webhook_configs", None)
        r["telegram_configs"] = [{"api_url": api_url, "bot_token": bot_token, "chat_id": int(CHAT),
                                  "parse_mode": "HTML", "send_resolved": False}]
    return yaml.safe_dump(doc, sort_keys=False)


class Bench:
    def __init__(self, tmp: Path, cluster: PostgresCluster, dbname: str) -> None:
        self.procs: list[ManagedProcess] = []
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{dbname}"')
        self.db_url = f"postgresql://postgres@127.0.0.1:{cluster.port}/{dbname}"
        self.ours_tg = FakeTelegram().start()
        self.native_tg = FakeTelegram().start()
        for tg in (self.ours_tg, self.native_tg):
            tg.enforce_limits(min_interval=1.0, per_minute=20, global_per_second=30)
        try:
            self._start(tmp, dbname)
        except BaseException:
            self.close()  # what did start: a failed start-up leaves no receiver or Alertmanager behind
            raise

    def _start(self, tmp: Path, dbname: str) -> None:
        port = free_port()
        self.receiver_url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "DATABASE_URL": self.db_url, "RECEIVER_TOKEN": TOKEN, "NOTIFICATIONS_ENABLED": "true",
               "TELEGRAM_BOT_TOKEN": self.ours_tg.token, "TELEGRAM_CHAT_ID": CHAT,
               "TELEGRAM_API_URL": self.ours_tg.api_url, "TELEGRAM_POLLING": "false", "DEADMAN_ENABLED": "false",
               "PYTHONUNBUFFERED": "1"}
        rcv = ManagedProcess("receiver", [sys.executable, "-m", "d76_cli.main", "receiver", "--listen",
                                          f"127.0.0.1:{port}"], tmp / f"{dbname}-receiver.log", env=env).start()
        self.procs.append(rcv)
        wait_http_ok(self.receiver_url + "/readyz", 40, rcv)
        catalog = load_catalog()
        ours = render_alertmanager_config(catalog, receiver_url=self.receiver_url, bearer_token_file="receiver_token")
        self.sides: list[Side] = []
        for name, text, tg in (("ours", ours, self.ours_tg),
                               ("native", _native_config(ours, self.native_tg.api_url, self.native_tg.token),
                                self.native_tg)):
            d = tmp / f"{dbname}-am-{name}"
            d.mkdir()
            (d / "receiver_token").write_text(TOKEN)
            (d / "alertmanager.yml").write_text(text)
            am_port = free_port()
            self.procs.append(start_alertmanager(d / "alertmanager.yml", am_port, d / "data", d / "am.log", 30))
            self.sides.append(Side(name, tg, f"http://127.0.0.1:{am_port}"))

    def post(self, alerts: list[dict[str, Any]]) -> None:
        for side in self.sides:
            r = requests.post(side.am_url + "/api/v2/alerts", json=alerts, timeout=10)
            r.raise_for_status()

    def history(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if cursor:
                params["cursor"] = cursor
            r = requests.get(self.receiver_url + "/api/alerts", params=params,
                             headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
            r.raise_for_status()
            body = r.json()
            out += body["alerts"]
            cursor = body.get("next_cursor")
            if not cursor:
                return out

    def close(self) -> None:
        for p in reversed(self.procs):
            p.stop()
        self.ours_tg.stop()
        self.native_tg.stop()


def _alert(name: str, severity: str, source: str, labels: dict[str, str], token: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"labels": {"alertname": name, "severity": severity, "source": source, "job": "d75", **labels},
            "annotations": {"summary": f"{token} {name}", "description": f"{name} on {token}",
                            "value": "3", "threshold": "2"},
            "startsAt": _iso(now), "endsAt": _iso(now + timedelta(minutes=15)),
            "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up"}


def scenario_p0(b: Bench) -> None:
    tokens = [f"ex{i:02d}" for i in range(1, 21)]
    posted: dict[str, float] = {}
    for t in tokens:
        posted[t] = time.monotonic()
        b.post([_alert("ExchangeFrozen", "P0", "exchange_health", {"exchange": t}, t)])
        deadline = time.monotonic() + 1.2
        while time.monotonic() < deadline:
            for s in b.sides:
                s.scan(tokens)
            time.sleep(0.02)
    end = time.monotonic() + 60
    while time.monotonic() < end and any(len(s.told) < len(tokens) for s in b.sides):
        for s in b.sides:
            s.scan(tokens)
        time.sleep(0.1)
    # webhook arrival: the receiver's stored time of each alert, on this process's monotonic clock
    offset = time.time() - time.monotonic()
    arrived = {}
    for a in b.history():
        t = a["labels"].get("exchange")
        if t in posted:
            arrived[t] = datetime.fromisoformat(a["timestamp"].replace("Z", "+00:00")).timestamp() - offset
    print("20 distinct P0, 1.2 s apart")
    for s in b.sides:
        post_to_told = [s.told[t] - posted[t] for t in tokens if t in s.told]
        line = (f"  {s.name:6s}: told {len(s.told)}/20; post->sendMessage p50 {statistics.median(post_to_told):.3f}s "
                f"max {max(post_to_told):.3f}s; 429s received {len(s.tg.rate_limited)}")
        if s.name == "ours":
            hook = [s.told[t] - arrived[t] for t in tokens if t in s.told and t in arrived]
            line += f"; webhook->sendMessage p50 {statistics.median(hook) * 1000:.1f} ms max {max(hook) * 1000:.1f} ms"
        print(line)


def scenario_storm(b: Bench) -> None:
    rng = random.Random(12)
    exchanges = [f"ex{i:02d}" for i in range(1, 31)]
    alerts: list[tuple[str, dict[str, Any]]] = []
    for i, ex in enumerate(exchanges):
        alerts.append((ex, _alert("ExchangeFrozen", "P0", "exchange_health", {"exchange": ex}, ex)))
        for j in range(3):  # P1 per symbol route through the exchange (no exchange label: not inhibited)
            tok = f"{ex}-s{j}"
            alerts.append((tok, _alert("SymbolDrawdown", "P1", "risk_guard", {"symbol": tok}, tok)))
        for j in range(6):
            tok = f"{ex}-{exchanges[(i + j + 1) % 30]}-r{j}"
            alerts.append((tok, _alert("RouteScoreLow", "P2", "arb_route", {"route": tok}, tok)))
    rng.shuffle(alerts)
    tokens = [t for t, _ in alerts]
    p0 = [t for t, a in alerts if a["labels"]["severity"] == "P0"]
    t0 = time.monotonic()
    batch = 10
    for k in range(0, len(alerts), batch):  # 300 alerts over ~10 s
        b.post([a for _, a in alerts[k:k + batch]])
        time.sleep(STORM_SECONDS / (len(alerts) / batch))
    while time.monotonic() - t0 < STORM_DEADLINE + 10 and any(len(s.told) < len(tokens) for s in b.sides):
        for s in b.sides:
            s.scan(tokens)
        time.sleep(0.25)
    hist = b.history()
    stored = {a["labels"].get("exchange") or a["labels"].get("symbol") or a["labels"].get("route") for a in hist}
    print(f"300 alerts (30 P0, 90 P1, 180 P2) posted within {STORM_SECONDS:.0f} s")
    for s in b.sides:
        p0_times = [s.told[t] - t0 for t in p0 if t in s.told]
        all_times = [s.told[t] - t0 for t in tokens if t in s.told]
        in_time = sum(1 for x in all_times if x <= STORM_DEADLINE)
        print(f"  {s.name:6s}: named {len(s.told)}/300 ({in_time} within 3 min); P0 named {len(p0_times)}/30, "
              f"last P0 at {max(p0_times) if p0_times else float('nan'):.1f}s; last alert at "
              f"{max(all_times) if all_times else float('nan'):.1f}s; messages {len(s.tg.messages)}; "
              f"429s received {len(s.tg.rate_limited)}; never named {len(tokens) - len(s.told)}")
    import psycopg

    with psycopg.connect(b.db_url) as c:
        rows = dict(c.execute("SELECT status, count(*) FROM notifications WHERE channel = 'telegram' "
                              "AND kind = 'firing' GROUP BY status").fetchall())
    print(f"  history: {len(stored & set(tokens))}/300 alerts stored by the receiver; telegram firing rows "
          f"by status {rows} (folded = counted in a packed message, not named)")


def main() -> None:
    with scratch_dir("d76-bench-storm-") as tmp, postgres_cluster(tmp) as cluster:
        wanted = os.environ.get("BENCH_STORM_SCENARIOS", "p0,storm").split(",")
        for name, fn in (("p0", scenario_p0), ("storm", scenario_storm)):
            if name not in wanted:
                continue
            b = Bench(tmp, cluster, name)
            try:
                fn(b)
            finally:
                b.close()


if __name__ == "__main__":
    main()
