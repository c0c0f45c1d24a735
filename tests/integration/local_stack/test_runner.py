"""The native stack runner: start-up failures name the piece and leave nothing behind; PostgreSQL
mode; status and down from another process (the CLI)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from local_stack.processes import StartupError, free_port, port_in_use
from local_stack.runner import Stack, StackConfig
from tests.support import paths

REPO = paths.REPO


def _config(tmp_path: Path, **kw) -> StackConfig:
    return StackConfig.with_free_ports(tmp_path / "stack", **kw)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "d76_cli.main", "stack", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def test_port_taken_is_named_and_nothing_starts(tmp_path):
    cfg = _config(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", cfg.alertmanager_port))
        s.listen(1)
        with pytest.raises(
            StartupError, match=rf"alertmanager: port 127.0.0.1:{cfg.alertmanager_port} is already in use"
        ):
            Stack(cfg).up()
    assert not port_in_use(cfg.exporter_port) and not port_in_use(cfg.receiver_port)


def test_missing_binary_is_named_and_started_pieces_are_stopped(tmp_path, monkeypatch):
    cfg = _config(tmp_path)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no prometheus-alertmanager on PATH
    with pytest.raises(StartupError, match="alertmanager: binary 'prometheus-alertmanager' not found"):
        Stack(cfg).up()
    # the simulator and the receiver had started: they were stopped again
    assert not port_in_use(cfg.exporter_port) and not port_in_use(cfg.receiver_port)
    assert not (cfg.state_dir / "stack.json").exists()


def test_bad_override_file_fails_before_anything_starts(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("alerts:\n  ExchangeFrozen: {severity: P7}\n")
    r = _cli("up", "--state-dir", str(tmp_path / "s"), "--config", str(bad), "--exporter-port", str(free_port()))
    assert r.returncode == 1
    assert "alerts.ExchangeFrozen.severity" in r.stderr


def test_postgres_folder_the_server_cannot_reach_is_a_clear_error(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    cfg = _config(private, postgres=True)
    with pytest.raises(StartupError, match="postgres: the state folder .* is not reachable by the postgres user"):
        Stack(cfg).up()
    assert not port_in_use(cfg.postgres_port)


def test_postgres_mode_status_and_down_from_the_cli(session_tmp):
    base = session_tmp / f"pgstack-{os.getpid()}"
    base.mkdir()
    cfg = _config(base, postgres=True)
    stack = Stack(cfg).up()
    try:
        ready = requests.get(stack.url("receiver") + "/readyz", timeout=5).json()
        assert ready["backend"] == "postgresql"
        r = _cli("status", "--state-dir", str(cfg.state_dir))
        assert r.returncode == 0, r.stdout + r.stderr
        for piece in ("postgres", "exporter", "receiver", "alertmanager", "prometheus"):
            assert piece in r.stdout
        assert r.stdout.count("healthy") == 5
        # the throwaway cluster's URL, for `d76 history --database-url` or psql (it has no password)
        db_line = next(line for line in r.stdout.splitlines() if line.startswith("database"))
        assert db_line.split()[-1].startswith(f"postgresql://postgres@127.0.0.1:{cfg.postgres_port}/")
        # the API needs the token Alertmanager uses; without it: 401
        assert requests.get(stack.url("receiver") + "/api/alerts", timeout=5).status_code == 401
        assert stack.api("GET", "/api/alerts").status_code == 200
    finally:
        r = _cli("down", "--state-dir", str(cfg.state_dir))
    assert r.returncode == 0 and "postgres" in r.stdout and "prometheus" in r.stdout
    for port in (cfg.exporter_port, cfg.receiver_port, cfg.alertmanager_port, cfg.prometheus_port, cfg.postgres_port):
        assert not port_in_use(port), port
    r = _cli("status", "--state-dir", str(cfg.state_dir))
    assert r.returncode == 1 and "no stack recorded" in r.stdout


def test_ha_refuses_sqlite_and_a_missing_cluster_port_before_anything_starts(tmp_path):
    cfg = StackConfig.with_free_ports(tmp_path / "ha", ha=True, database_url=f"sqlite:///{tmp_path}/h.db")
    with pytest.raises(StartupError, match="HA receivers share one PostgreSQL database"):
        Stack(cfg).up()
    cfg = StackConfig.with_free_ports(tmp_path / "ha2", ha=True)
    cfg.cluster_ports = cfg.cluster_ports[:2]
    with pytest.raises(StartupError, match="3 Alertmanagers need as many cluster ports, got 2"):
        Stack(cfg).up()
    assert not port_in_use(cfg.exporter_port) and not port_in_use(cfg.receiver_port)


def test_ha_gossip_port_taken_is_named(tmp_path):
    cfg = StackConfig.with_free_ports(tmp_path / "ha", ha=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", cfg.cluster_ports[1]))
        s.listen(1)
        with pytest.raises(StartupError, match=rf"alertmanager-b \(cluster\): port 127.0.0.1:{cfg.cluster_ports[1]} "
                                               "is already in use"):
            Stack(cfg).up()
    cfg = StackConfig.with_free_ports(tmp_path / "ha3", ha=True)
    cfg.ha_receiver_ports = (cfg.prometheus_port,)
    with pytest.raises(StartupError, match=rf"prometheus-a: port {cfg.prometheus_port} is also given to receiver-b"):
        Stack(cfg).up()


def test_cli_ha_ports_are_validated(tmp_path):
    r = _cli("up", "--ha", "--state-dir", str(tmp_path / "s"), "--ha-receiver-ports", "9199,x")
    assert r.returncode == 2 and "comma-separated port numbers" in r.stderr
