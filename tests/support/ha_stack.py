"""The HA shape (`d76 stack up --ha`) as the fault tests drive it: brought up by the command users
run, on free ports, scraping the test's own exporter, telling the fake Telegram Bot API.

Alerts go the whole real way: the test's exporter (the project's `D75Metrics` and
`ExchangeHealthHooks`) sets exchanges DEGRADED and back; both Prometheus replicas evaluate the
generated rules and send to all three Alertmanagers, which post to both receivers. Each exchange has
a unique name (`ha017`), so it can be counted in history, outbox and Telegram texts
(`tests/support/delivery.py`). `ha_stack(...)` starts it with `d76 stack up --ha` and stops it with
`d76 stack down` (checking every port is free again); the helpers below look into the shared
database (the receivers' own multi-host DATABASE_URL) and freeze or kill pieces at chosen moments.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import yaml

from exporter import D75Metrics, ExchangeHealthHooks, make_metrics_app, serve_in_thread
from local_stack.processes import port_in_use
from local_stack.runner import Stack, StackConfig
from tests.support import paths
from tests.support.delivery import TOLD_STATUSES, DeliveryReport, delivery_report
from tests.support.fakes import FakeTelegram

__all__ = ["ALERT", "HA", "ha_stack", "cli", "firing_told", "resolved_told", "wait_for", "stored", "lane_holder",
           "in_flight", "between_calls"]

ALERT = "ExchangeDegraded"   # P2, no `for`: fires at the first evaluation that sees status 1
OVERRIDES = {"policy": {"severities": {"P2": {"group_wait": "1s", "group_interval": "2s"}}}}
T = TypeVar("T")


@dataclass
class HA:
    stack: Stack
    tg: FakeTelegram
    health: ExchangeHealthHooks
    db: str   # the receivers' DATABASE_URL (every PostgreSQL member; libpq finds the primary)

    def set_status(self, exchanges: list[str], status: str) -> None:
        for ex in exchanges:
            self.health.on_status(ex, status)

    def report(self, values: list[str]) -> DeliveryReport:
        return delivery_report(self.db, self.tg, ALERT, "exchange", values)

    def wait(self, what: str, values: list[str], done: Callable[[DeliveryReport], bool],
             timeout: float) -> DeliveryReport:
        """Report until `done`; while the database fails over (no primary yet) the last report stands."""
        deadline = time.monotonic() + timeout
        rep: DeliveryReport | None = None
        while True:
            try:
                rep = self.report(values)
            except psycopg.OperationalError:
                pass
            if rep is not None and done(rep):
                return rep
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not reached within {timeout:.0f}s: "
                                     f"{rep.summary() if rep else 'no primary to read from'}")
            time.sleep(0.5)


def firing_told(rep: DeliveryReport) -> bool:
    return not rep.lost  # every value stored and its firing told


def resolved_told(rep: DeliveryReport) -> bool:
    return all(r["status"] == "resolved" for v in rep.values for r in rep.rows[v]) and all(
        any(s in TOLD_STATUSES for s in rep.resolved[v]) for v in rep.values)


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`d76 stack ARGS` as a user runs it."""
    return subprocess.run([sys.executable, "-m", "d76_cli.main", "stack", *args], capture_output=True,
                          text=True, cwd=paths.REPO, timeout=timeout, env=env)


def _ports(ports: tuple[int, ...]) -> str:
    return ",".join(map(str, ports))


def up_args(cfg: StackConfig) -> list[str]:
    """`d76 stack up --ha` options for every port of `cfg` (free ports, from `with_free_ports`)."""
    return ["--ha", "--state-dir", str(cfg.state_dir),
            "--exporter-port", str(cfg.exporter_port), "--prometheus-port", str(cfg.prometheus_port),
            "--alertmanager-port", str(cfg.alertmanager_port), "--receiver-port", str(cfg.receiver_port),
            "--postgres-port", str(cfg.postgres_port),
            "--ha-prometheus-ports", _ports(cfg.ha_prometheus_ports),
            "--ha-alertmanager-ports", _ports(cfg.ha_alertmanager_ports),
            "--ha-receiver-ports", _ports(cfg.ha_receiver_ports),
            "--cluster-ports", _ports(cfg.cluster_ports),
            "--ha-postgres-ports", _ports(cfg.ha_postgres_ports),
            "--patroni-ports", _ports(cfg.patroni_ports),
            "--etcd-ports", _ports(cfg.etcd_ports)]


@contextmanager
def ha_stack(base: Path, overrides: dict[str, Any] | None = None, receiver_env: dict[str, str] | None = None,
             ) -> Iterator[HA]:
    """`d76 stack up --ha --no-simulator` (the command users run) on free ports in `base`, scraping
    the test's exporter; the receivers inherit the fake Bot API settings from the command's
    environment. `d76 stack down` at the end; every port must be free again."""
    base.mkdir()
    override = base / "overrides.yml"
    override.write_text(yaml.safe_dump(overrides if overrides is not None else OVERRIDES))
    metrics = D75Metrics(process_collector=False)
    health = ExchangeHealthHooks(metrics)
    with FakeTelegram() as tg:
        cfg = StackConfig.with_free_ports(base / "stack", ha=True, simulator=False, catalog_override=override)
        env = {**os.environ, "TELEGRAM_API_URL": tg.api_url, "TELEGRAM_BOT_TOKEN": tg.token,
               "TELEGRAM_CHAT_ID": "-100777", "TELEGRAM_POLLING": "false",
               "NOTIFY_POLL_SECONDS": "0.2", "DEADMAN_TIMEOUT_SECONDS": "3600", **(receiver_env or {})}
        env.pop("DATABASE_URL", None)
        exporter = serve_in_thread(make_metrics_app(metrics.registry), port=cfg.exporter_port)
        try:
            t0 = time.monotonic()
            up = cli("up", *up_args(cfg), "--no-simulator", "--config", str(override), env=env, timeout=180)
            assert up.returncode == 0, up.stdout + up.stderr
            print(f"\n`d76 stack up --ha` took {time.monotonic() - t0:.1f}s")
            stack = Stack(cfg)  # same ports: urls; pids come from the stack's record (stack.json)
            db = stack.database_url()
            assert db and "target_session_attrs=read-write" in db, db
            yield HA(stack, tg, health, db)
        finally:
            down = cli("down", "--state-dir", str(cfg.state_dir), timeout=120)
            exporter.stop()
        assert down.returncode == 0 and "postgres" in down.stdout, down.stdout + down.stderr
        for port in (*cfg.prometheus_ports(), *cfg.alertmanager_ports(), *cfg.receiver_ports(),
                     *cfg.cluster_ports, *cfg.postgres_ports(), *cfg.patroni_ports, *cfg.etcd_ports):
            assert not port_in_use(port), port


def wait_for(what: str, probe: Callable[[], T], ok: Callable[[T], bool], timeout: float = 30) -> T:
    deadline = time.monotonic() + timeout
    while not ok(value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {timeout:.0f}s")
        time.sleep(0.05)
    return value


def stored(ha: HA, values: list[str]) -> int:
    with psycopg.connect(ha.db) as conn:
        row = conn.execute("SELECT count(*) FROM alerts WHERE alertname = %s AND labels->>'exchange' = ANY(%s)",
                           (ALERT, values)).fetchone()
    return int(row[0]) if row else 0


def lane_holder(ha: HA) -> tuple[str | None, int]:
    """Which receiver delivers the Telegram chat now (the lane's lease owner is host:pid:random), and
    how many of the chat's rows are still waiting."""
    with psycopg.connect(ha.db) as conn:
        row = conn.execute(
            "SELECT owner FROM notify_lanes WHERE channel = 'telegram' AND lease_until > now()"
        ).fetchone()
        counted = conn.execute("SELECT count(*) FROM notifications WHERE channel = 'telegram' "
                               "AND status IN ('pending', 'sending')").fetchone()
    waiting = int(counted[0]) if counted else 0
    if row is None:
        return None, waiting
    pid = int(row[0].split(":")[-2])
    name = next((n for n in ha.stack.names("receiver") if ha.stack.pid(n) == pid), None)
    return name, waiting


def in_flight(ha: HA) -> int:
    """Telegram rows taken for a call that has not been recorded yet (status `sending`)."""
    with psycopg.connect(ha.db) as conn:
        row = conn.execute("SELECT count(*) FROM notifications WHERE channel = 'telegram' "
                           "AND status = 'sending'").fetchone()
    return int(row[0]) if row else 0


def between_calls(ha: HA, receiver: str, action: Callable[[], None], tries: int = 200) -> float:
    """Run `action` at a moment `receiver` (the one delivering the chat) is not inside a call to
    Telegram: freeze it, look (nothing `sending`: it is between two calls, and frozen it cannot start
    one), act, let it go on (unless the action ended it); else let it go on and look again. Returns
    the wall-clock time the action was done. A kill INSIDE a call (of the receiver, or of the database it
    must record the call in) can make the message be told twice (delivery is at least once,
    docs/ha.md); the fault tests are about everything else a kill can break."""
    pid = ha.stack.pid(receiver)
    assert pid is not None, receiver
    for _ in range(tries):
        os.killpg(pid, signal.SIGSTOP)
        try:
            if in_flight(ha) == 0:
                action()
                return time.time()
        finally:
            try:
                os.killpg(pid, signal.SIGCONT)
            except ProcessLookupError:  # the action killed it
                pass
        time.sleep(0.05)
    raise AssertionError(f"{receiver} was never between two calls to Telegram")
