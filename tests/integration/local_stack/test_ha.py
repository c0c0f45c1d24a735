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
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from catalog import deploy_configs
from local_stack.probes import probe_alertmanager
from tests.support.ha_stack import (
    ALERT,
    HA,
    between_calls,
    cli,
    firing_told,
    ha_stack,
    lane_holder,
    resolved_told,
    stored,
    wait_for,
)


@pytest.fixture(scope="module")
def ha(session_tmp: Path) -> Iterator[HA]:
    """`d76 stack up --ha --no-simulator` on free ports (tests/support/ha_stack.py), one for the module."""
    with ha_stack(session_tmp / f"ha-{os.getpid()}") as stack:
        yield stack


def test_status_shows_cluster_peers_replicas_and_receivers(ha):
    r = cli("status", "--state-dir", str(ha.stack.state))
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
    fired = ha.wait("50 firing alerts stored and told", values, firing_told, timeout=60)
    # Alertmanager deduplicated the replicas: one alert per exchange, no `replica` label
    for url in ha.stack.urls("alertmanager"):
        ams = [a for a in requests.get(url + "/api/v2/alerts", timeout=5).json()
               if a["labels"].get("alertname") == ALERT and a["labels"].get("exchange") in values]
        assert len(ams) == 50 and not any("replica" in a["labels"] for a in ams), url
    ha.set_status(values, "HEALTHY")
    rep = ha.wait("50 resolves stored and told", values, resolved_told, timeout=60)
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
        ha.wait("10 alerts stored and told with alertmanager-c hung", values, firing_told, timeout=30)
        took = time.monotonic() - t0
    finally:
        os.killpg(pid, signal.SIGCONT)
    # back in the cluster, it learns the notification log by gossip and posts nothing twice
    wait_for("alertmanager-c back in the cluster", lambda: probe_alertmanager(ha.stack.url("alertmanager-c"), 3),
              lambda p: p.healthy)
    time.sleep(6)  # Prometheus re-sends everything to it within the resend delay (5 s)
    rep = ha.report(values)
    print(f"\nHA with alertmanager-c stopped (SIGSTOP): all 10 stored and told after {took:.1f}s; "
          f"after it rejoined: {rep.summary()}")
    assert rep.stored == 10 and rep.lost == [] and rep.duplicated == [] and rep.told_firing == 10


def test_sigkill_of_one_alertmanager_receiver_and_prometheus_during_a_burst_loses_nothing(ha):
    values = [f"kb{i:03d}" for i in range(200)]
    t0 = time.monotonic()
    ha.set_status(values, "DEGRADED")
    # kill while the burst flows: Alertmanager once the first alerts are stored, the receiver while
    # its dispatcher holds leased outbox rows, then one Prometheus replica
    wait_for("first alerts stored", lambda: stored(ha, values), lambda n: n >= 10)
    ha.stack.kill("alertmanager-a")
    # the receiver delivering the chat dies while rows still wait: the other takes the lane over when
    # its lease (8 s) runs out
    holder, waiting = wait_for("a receiver delivering the chat with rows waiting", lambda: lane_holder(ha),
                               lambda hw: hw[0] is not None and hw[1] > 0)
    assert holder is not None
    between_calls(ha, holder, lambda: ha.stack.kill(holder))  # SIGKILL ends a stopped process too
    survivor = "receiver-a" if holder == "receiver-b" else "receiver-b"
    stored_at_kill = stored(ha, values)
    ha.stack.kill("prometheus-b")
    _ = ha.wait("200 firing alerts stored and told", values, firing_told, timeout=150)
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
