"""The HA shape (`d76 stack up --ha`) against real servers: two Prometheus replicas, three
Alertmanagers in one gossip cluster, two receivers on one PostgreSQL, the fake Telegram Bot API.

Alerts go the whole real way: the test's own exporter (the project's `D75Metrics` and
`ExchangeHealthHooks`, served on the port the replicas scrape) sets exchanges DEGRADED and back;
both Prometheus replicas evaluate the generated rules and send to all three Alertmanagers, which
post to both receivers. Each exchange has a unique name (`ha017`), so it can be counted in history,
outbox and Telegram texts (`tests/support/delivery.py`). One stack for the module, started and stopped
with `d76 stack up --ha` / `d76 stack down`.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
import requests
import yaml

from catalog import deploy_configs
from exporter import D75Metrics, ExchangeHealthHooks, make_metrics_app, serve_in_thread
from local_stack.probes import probe_alertmanager
from local_stack.processes import port_in_use
from local_stack.runner import Stack, StackConfig
from tests.support import paths
from tests.support.delivery import TOLD_STATUSES, DeliveryReport, delivery_report
from tests.support.fakes import FakeTelegram

REPO = paths.REPO
ALERT = "ExchangeDegraded"   # P2, no `for`: fires at the first evaluation that sees status 1
OVERRIDES = {"policy": {"severities": {"P2": {"group_wait": "1s", "group_interval": "2s"}}}}
T = TypeVar("T")


class HA:
    def __init__(self, stack: Stack, tg: FakeTelegram, health: ExchangeHealthHooks, db: str) -> None:
        self.stack, self.tg, self.health, self.db = stack, tg, health, db

    def set_status(self, exchanges: list[str], status: str) -> None:
        for ex in exchanges:
            self.health.on_status(ex, status)

    def report(self, values: list[str]) -> DeliveryReport:
        return delivery_report(self.db, self.tg, ALERT, "exchange", values)

    def wait(self, what: str, values: list[str], done: Callable[[DeliveryReport], bool],
             timeout: float) -> DeliveryReport:
        deadline = time.monotonic() + timeout
        rep = self.report(values)
        while not done(rep):
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not reached within {timeout:.0f}s: {rep.summary()}")
            time.sleep(0.5)
            rep = self.report(values)
        return rep


def _firing_told(rep: DeliveryReport) -> bool:
    return not rep.lost  # every value stored and its firing told


def _resolved_told(rep: DeliveryReport) -> bool:
    return all(r["status"] == "resolved" for v in rep.values for r in rep.rows[v]) and all(
        any(s in TOLD_STATUSES for s in rep.resolved[v]) for v in rep.values)


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "d76_cli.main", "stack", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout, env=env)


def _ports(ports: tuple[int, ...]) -> str:
    return ",".join(map(str, ports))


@pytest.fixture(scope="module")
def ha(session_tmp: Path) -> Iterator[HA]:
    """`d76 stack up --ha --no-simulator` (the command users run) on free ports, scraping the
    test's exporter; the receivers inherit the fake Bot API settings from the command's environment."""
    base = session_tmp / f"ha-{os.getpid()}"
    base.mkdir()
    override = base / "overrides.yml"
    override.write_text(yaml.safe_dump(OVERRIDES))
    metrics = D75Metrics(process_collector=False)
    health = ExchangeHealthHooks(metrics)
    with FakeTelegram() as tg:
        cfg = StackConfig.with_free_ports(base / "stack", ha=True, simulator=False, catalog_override=override)
        env = {**os.environ, "TELEGRAM_API_URL": tg.api_url, "TELEGRAM_BOT_TOKEN": tg.token,
               "TELEGRAM_CHAT_ID": "-100777", "TELEGRAM_POLLING": "false",
               "NOTIFY_POLL_SECONDS": "0.2", "DEADMAN_TIMEOUT_SECONDS": "3600"}
        env.pop("DATABASE_URL", None)
        exporter = serve_in_thread(make_metrics_app(metrics.registry), port=cfg.exporter_port)
        try:
            up = _cli("up", "--ha", "--no-simulator", "--state-dir", str(cfg.state_dir), "--config", str(override),
                      "--exporter-port", str(cfg.exporter_port), "--prometheus-port", str(cfg.prometheus_port),
                      "--alertmanager-port", str(cfg.alertmanager_port), "--receiver-port", str(cfg.receiver_port),
                      "--postgres-port", str(cfg.postgres_port),
                      "--ha-prometheus-ports", _ports(cfg.ha_prometheus_ports),
                      "--ha-alertmanager-ports", _ports(cfg.ha_alertmanager_ports),
                      "--ha-receiver-ports", _ports(cfg.ha_receiver_ports),
                      "--cluster-ports", _ports(cfg.cluster_ports), env=env, timeout=180)
            assert up.returncode == 0, up.stdout + up.stderr
            stack = Stack(cfg)  # same ports: urls; pids come from the stack's record (stack.json)
            db = f"postgresql://postgres@127.0.0.1:{cfg.postgres_port}/d76"  # the throwaway cluster
            yield HA(stack, tg, health, db)
        finally:
            down = _cli("down", "--state-dir", str(cfg.state_dir), timeout=120)
            exporter.stop()
        assert down.returncode == 0 and "postgres" in down.stdout, down.stdout + down.stderr
        for port in (*cfg.prometheus_ports(), *cfg.alertmanager_ports(), *cfg.receiver_ports(),
                     *cfg.cluster_ports, cfg.postgres_port):
            assert not port_in_use(port), port


def test_status_shows_cluster_peers_replicas_and_receivers(ha):
    r = _cli("status", "--state-dir", str(ha.stack.state))
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "HA: 2 Prometheus replicas, 3 clustered Alertmanagers, 2 receivers on one database" in out
    for name in ("alertmanager-a", "alertmanager-b", "alertmanager-c"):
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert "healthy" in line and "cluster ready, 3/3 peers" in line, line
    for replica in ("a", "b"):
        line = next(line for line in out.splitlines() if line.startswith(f"prometheus-{replica}"))
        assert f"replica {replica}" in line, line
    for name in ("receiver-a", "receiver-b"):
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert "healthy" in line and "postgresql" in line, line
    # every replica's notifier has found every Alertmanager (discovery needs about 5 s after start)
    deadline = time.monotonic() + 20
    for url in ha.stack.urls("prometheus"):
        while True:
            ams = requests.get(url + "/api/v1/alertmanagers", timeout=5).json()["data"]["activeAlertmanagers"]
            if len(ams) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert len(ams) == 3, ams


def test_fifty_alerts_firing_and_resolving_are_stored_once_and_told_once(ha):
    values = [f"ha{i:03d}" for i in range(50)]
    ha.set_status(values, "DEGRADED")
    fired = ha.wait("50 firing alerts stored and told", values, _firing_told, timeout=60)
    # Alertmanager deduplicated the replicas: one alert per exchange, no `replica` label
    for url in ha.stack.urls("alertmanager"):
        ams = [a for a in requests.get(url + "/api/v2/alerts", timeout=5).json()
               if a["labels"].get("alertname") == ALERT and a["labels"].get("exchange") in values]
        assert len(ams) == 50 and not any("replica" in a["labels"] for a in ams), url
    ha.set_status(values, "HEALTHY")
    rep = ha.wait("50 resolves stored and told", values, _resolved_told, timeout=60)
    time.sleep(3)  # late duplicates (the second receiver, a slower Alertmanager) would land by now
    rep = ha.report(values)
    print(f"\nHA 50 firing+resolving: {rep.summary()}; firing after fire: {fired.by_status('firing')}")
    assert sum(len(rep.rows[v]) for v in values) == 50
    assert rep.stored == 50 and rep.lost == [] and rep.duplicated == []
    assert rep.told_firing == 50 and rep.told_resolved == 50
    # both receivers took part: each got webhook posts (every Alertmanager posts to both)
    for name in ha.stack.names("receiver"):
        metrics = requests.get(ha.stack.url(name) + "/metrics", timeout=5).text
        assert _webhook_posts(metrics) > 0, name


def _webhook_posts(metrics_text: str) -> float:
    """Alerts the receiver got in webhook payloads (repeats and the other replica's copies included)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics_text.splitlines()
               if line.startswith("d76_receiver_alerts_received_total{"))


def test_a_hung_alertmanager_holds_nothing_up_and_rejoins_without_duplicates(ha):
    """SIGSTOP: the member neither answers nor gossips (what a partition looks like to the others).
    Prometheus waits for every Alertmanager before its next batch, so the short send timeout in the
    generated prometheus.yml is what keeps the others paging."""
    for url in ha.stack.urls("prometheus"):
        config = yaml.safe_load(requests.get(url + "/api/v1/status/config", timeout=5).json()["data"]["yaml"])
        assert config["alerting"]["alertmanagers"][0]["timeout"] == deploy_configs.ALERTMANAGER_SEND_TIMEOUT
    values = [f"pz{i:03d}" for i in range(10)]
    pid = ha.stack.pid("alertmanager-c")
    os.killpg(pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        ha.set_status(values, "DEGRADED")
        ha.wait("10 alerts stored and told with alertmanager-c hung", values, _firing_told, timeout=30)
        took = time.monotonic() - t0
    finally:
        os.killpg(pid, signal.SIGCONT)
    # back in the cluster, it learns the notification log by gossip and posts nothing twice
    _wait_for("alertmanager-c back in the cluster", lambda: probe_alertmanager(ha.stack.url("alertmanager-c"), 3),
              lambda p: p.healthy)
    time.sleep(6)  # Prometheus re-sends everything to it within the resend delay (5 s)
    rep = ha.report(values)
    print(f"\nHA with alertmanager-c stopped (SIGSTOP): all 10 stored and told after {took:.1f}s; "
          f"after it rejoined: {rep.summary()}")
    assert rep.stored == 10 and rep.lost == [] and rep.duplicated == [] and rep.told_firing == 10


def _stored(ha: HA, values: list[str]) -> int:
    with psycopg.connect(ha.db) as conn:
        return conn.execute("SELECT count(*) FROM alerts WHERE alertname = %s AND labels->>'exchange' = ANY(%s)",
                            (ALERT, values)).fetchone()[0]


def _lane_holder(ha: HA) -> tuple[str | None, int]:
    """Which receiver delivers the Telegram chat now (the lane's lease owner is host:pid:random), and
    how many of the chat's rows are still waiting."""
    with psycopg.connect(ha.db) as conn:
        row = conn.execute(
            "SELECT owner FROM notify_lanes WHERE channel = 'telegram' AND lease_until > now()"
        ).fetchone()
        waiting = conn.execute("SELECT count(*) FROM notifications WHERE channel = 'telegram' "
                               "AND status IN ('pending', 'sending')").fetchone()[0]
    if row is None:
        return None, waiting
    pid = int(row[0].split(":")[-2])
    name = next((n for n in ("receiver-a", "receiver-b") if ha.stack.pid(n) == pid), None)
    return name, waiting


def _in_flight(ha: HA) -> int:
    """Telegram rows taken for a call that has not been recorded yet (status `sending`)."""
    with psycopg.connect(ha.db) as conn:
        return conn.execute("SELECT count(*) FROM notifications WHERE channel = 'telegram' "
                            "AND status = 'sending'").fetchone()[0]


def _kill_between_calls(ha: HA, piece: str, tries: int = 200) -> None:
    """SIGKILL a receiver at a moment it is not inside a call to Telegram: freeze it, look (nothing
    `sending`: it is between two calls, and frozen it cannot start one), kill it; else let it go on
    and look again. A kill INSIDE a call can make the message be told twice (delivery is at least
    once, docs/ha.md); this test is about everything else a kill can break."""
    pid = ha.stack.pid(piece)
    for _ in range(tries):
        os.killpg(pid, signal.SIGSTOP)
        if _in_flight(ha) == 0:
            ha.stack.kill(piece)  # SIGKILL ends a stopped process too
            return
        os.killpg(pid, signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError(f"{piece} was never between two calls to Telegram")


def _wait_for(what: str, probe: Callable[[], T], ok: Callable[[T], bool], timeout: float = 30) -> T:
    deadline = time.monotonic() + timeout
    while not ok(value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {timeout:.0f}s")
        time.sleep(0.05)
    return value


def test_sigkill_of_one_alertmanager_receiver_and_prometheus_during_a_burst_loses_nothing(ha):
    values = [f"kb{i:03d}" for i in range(200)]
    t0 = time.monotonic()
    ha.set_status(values, "DEGRADED")
    # kill while the burst flows: Alertmanager once the first alerts are stored, the receiver while
    # its dispatcher holds leased outbox rows, then one Prometheus replica
    _wait_for("first alerts stored", lambda: _stored(ha, values), lambda n: n >= 10)
    ha.stack.kill("alertmanager-a")
    # the receiver delivering the chat dies while rows still wait: the other takes the lane over when
    # its lease (8 s) runs out
    holder, waiting = _wait_for("a receiver delivering the chat with rows waiting", lambda: _lane_holder(ha),
                                lambda hw: hw[0] is not None and hw[1] > 0)
    _kill_between_calls(ha, holder)
    survivor = "receiver-a" if holder == "receiver-b" else "receiver-b"
    stored_at_kill = _stored(ha, values)
    ha.stack.kill("prometheus-b")
    _ = ha.wait("200 firing alerts stored and told", values, _firing_told, timeout=150)
    took = time.monotonic() - t0
    time.sleep(3)
    rep = ha.report(values)
    print(f"\nHA burst of 200, SIGKILL of alertmanager-a, {holder} (delivering the chat with {waiting} rows "
          f"waiting, {stored_at_kill} alerts stored at its kill), prometheus-b: {rep.summary()}; "
          f"all told after {took:.1f}s")
    assert sum(len(rep.rows[v]) for v in values) == 200
    assert rep.stored == 200 and rep.lost == [] and rep.duplicated == []
    assert rep.told_firing == 200
    status = {s.name: s for s in ha.stack.status()}
    for killed in ("alertmanager-a", holder, "prometheus-b"):
        assert not status[killed].running, killed
    for alive in ("alertmanager-b", "alertmanager-c", survivor, "prometheus-a"):
        assert status[alive].running, alive
