"""The whole pipeline on one machine, without Docker: simulator -> Prometheus -> Alertmanager -> receiver.

`Stack(StackConfig(...)).up()` renders the configs from the catalog into the state folder, starts
each piece with a readiness wait (a failure names the piece and stops what was started), and
records pids in `state/stack.json` so `status` and `down` work from another command. Processes run
in their own sessions, so `d76 stack up` can return while they keep running.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import requests

from exporter.catalog import load_catalog, render_alertmanager_config, render_channel_map
from exporter.catalog import render_prometheus_config, render_rule_files

from . import defaults
from .processes import (ManagedProcess, PostgresCluster, StartupError, port_in_use, start_alertmanager,
                        start_prometheus, wait_http_ok)

__all__ = ["StackConfig", "Stack", "PieceStatus", "StartupError", "DEFAULT_STATE_DIR"]

DEFAULT_STATE_DIR = Path(".d76") / "stack"
PIECES = ("postgres", "exporter", "receiver", "alertmanager", "prometheus")


@dataclass
class StackConfig:
    state_dir: Path = DEFAULT_STATE_DIR
    exporter_port: int = defaults.EXPORTER_PORT
    prometheus_port: int = defaults.PROMETHEUS_PORT
    alertmanager_port: int = defaults.ALERTMANAGER_PORT
    receiver_port: int = defaults.RECEIVER_PORT
    postgres_port: int = defaults.POSTGRES_PORT
    catalog_override: Path | None = None
    database_url: str | None = None       # default: an SQLite file in the state folder
    postgres: bool = False                # start a throwaway PostgreSQL cluster in the state folder
    scenario: str = "calm"
    simulator_args: list[str] = field(default_factory=lambda: ["--tick", "0.25"])
    receiver_env: dict[str, str] = field(default_factory=dict)
    ready_timeout: float = 40.0


@dataclass
class PieceStatus:
    name: str
    url: str
    pid: int | None
    running: bool
    healthy: bool
    detail: str = ""


@dataclass
class _Piece:
    name: str
    url: str
    health_url: str
    pid: int | None
    log: str


class Stack:
    """Start, inspect and stop the local stack. Also a context manager (up on enter, down on exit)."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.state = Path(self.config.state_dir).resolve()
        self.logs = self.state / "logs"
        self._procs: list[ManagedProcess] = []
        self._pg: PostgresCluster | None = None
        self.token = ""

    # -- urls ------------------------------------------------------------------------------------
    def url(self, piece: str) -> str:
        c, h = self.config, defaults.HOST
        port = {"exporter": c.exporter_port, "prometheus": c.prometheus_port,
                "alertmanager": c.alertmanager_port, "receiver": c.receiver_port,
                "postgres": c.postgres_port}[piece]
        return f"postgresql://127.0.0.1:{port}" if piece == "postgres" else f"http://{h}:{port}"

    @property
    def manifest_path(self) -> Path:
        return self.state / "stack.json"

    # -- up ----------------------------------------------------------------------------------------
    def _render(self) -> None:
        c = self.config
        catalog = load_catalog(c.catalog_override)
        prom_dir, am_dir = self.state / "prometheus", self.state / "alertmanager"
        (prom_dir / "rules").mkdir(parents=True, exist_ok=True)
        am_dir.mkdir(parents=True, exist_ok=True)
        for old in (prom_dir / "rules").glob("*.yml"):
            old.unlink()
        for name, text in render_rule_files(catalog).items():
            (prom_dir / "rules" / name).write_text(text)
        h = defaults.HOST
        (prom_dir / "prometheus.yml").write_text(render_prometheus_config(
            catalog, exporter_target=f"{h}:{c.exporter_port}", alertmanager_target=f"{h}:{c.alertmanager_port}",
            rule_files=["rules/*.yml"], receiver_target=f"{h}:{c.receiver_port}",
            self_target=f"{h}:{c.prometheus_port}"))
        token_file = am_dir / "receiver_token"
        self.token = secrets.token_urlsafe(32)
        token_file.write_text(self.token)
        token_file.chmod(0o600)
        (am_dir / "alertmanager.yml").write_text(render_alertmanager_config(
            catalog, receiver_url=self.url("receiver"), bearer_token_file="receiver_token"))
        (self.state / "channel_map.yml").write_text(render_channel_map(catalog))

    def _check_postgres_reachable(self) -> None:
        """The server runs as the `postgres` user (initdb refuses root): every folder above its data
        must be traversable by others, or initdb fails with a bare "Permission denied"."""
        self.state.chmod(0o755)
        if os.geteuid() != 0:
            return
        for parent in self.state.parents:
            if not os.stat(parent).st_mode & 0o001:
                raise StartupError(
                    f"postgres: the state folder {self.state} is not reachable by the postgres user "
                    f"({parent} is mode {oct(os.stat(parent).st_mode & 0o777)}); choose a --state-dir "
                    "under a world-traversable folder, e.g. the repository's .d76/")

    def _check_ports(self) -> None:
        c = self.config
        wanted = [("exporter", c.exporter_port), ("receiver", c.receiver_port),
                  ("alertmanager", c.alertmanager_port), ("prometheus", c.prometheus_port)]
        if c.postgres:
            wanted.append(("postgres", c.postgres_port))
        for piece, port in wanted:
            if port_in_use(port):
                raise StartupError(f"{piece}: port 127.0.0.1:{port} is already in use "
                                   f"(another stack? try `d76 stack down` or --{piece}-port)")

    def _cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "d76_cli.main", *args]

    def up(self) -> "Stack":
        if self.manifest_path.exists() and any(s.running for s in self.status()):
            raise StartupError(f"a stack is already running from {self.state} (`d76 stack down` first)")
        self.state.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        c = self.config
        self._check_ports()
        self._render()
        pieces: list[_Piece] = []
        try:
            database_url = c.database_url
            if c.postgres:
                self._check_postgres_reachable()
                self._pg = PostgresCluster(self.state / "postgres", port=c.postgres_port).init().start()
                database_url = self._pg.url
                pieces.append(_Piece("postgres", self.url("postgres"), "", None, str(self._pg.log_path)))
            database_url = database_url or f"sqlite:///{self.state / 'history.db'}"

            sim = ManagedProcess("exporter", self._cli(
                "simulate", "--scenario", c.scenario, "--listen", f"{defaults.HOST}:{c.exporter_port}",
                *c.simulator_args), self.logs / "exporter.log").start()
            self._procs.append(sim)
            wait_http_ok(self.url("exporter") + "/metrics", c.ready_timeout, sim)
            pieces.append(_Piece("exporter", self.url("exporter"), self.url("exporter") + "/metrics",
                                 sim.pid, str(sim.log_path)))

            env = {**os.environ, "DATABASE_URL": database_url, "RECEIVER_TOKEN": self.token,
                   "CHANNEL_MAP_FILE": str(self.state / "channel_map.yml"),
                   "ALERTMANAGER_URL": self.url("alertmanager"), "NOTIFICATIONS_ENABLED": "true",
                   "PYTHONUNBUFFERED": "1", **c.receiver_env}
            rcv = ManagedProcess("receiver", self._cli("receiver", "--listen", f"{defaults.HOST}:{c.receiver_port}"),
                                 self.logs / "receiver.log", env=env).start()
            self._procs.append(rcv)
            wait_http_ok(self.url("receiver") + "/readyz", c.ready_timeout, rcv)
            pieces.append(_Piece("receiver", self.url("receiver"), self.url("receiver") + "/readyz",
                                 rcv.pid, str(rcv.log_path)))

            am = start_alertmanager(self.state / "alertmanager" / "alertmanager.yml", c.alertmanager_port,
                                    self.state / "alertmanager" / "data", self.logs / "alertmanager.log",
                                    c.ready_timeout)
            self._procs.append(am)
            pieces.append(_Piece("alertmanager", self.url("alertmanager"), self.url("alertmanager") + "/-/ready",
                                 am.pid, str(am.log_path)))

            prom = start_prometheus(self.state / "prometheus" / "prometheus.yml", c.prometheus_port,
                                    self.state / "prometheus" / "data", self.logs / "prometheus.log",
                                    c.ready_timeout)
            self._procs.append(prom)
            pieces.append(_Piece("prometheus", self.url("prometheus"), self.url("prometheus") + "/-/ready",
                                 prom.pid, str(prom.log_path)))
        except BaseException:
            self._stop_started()
            raise
        self.manifest_path.write_text(json.dumps({
            "started_at": time.time(), "postgres_dir": str(self._pg.base_dir) if self._pg else None,
            "database_url": "postgresql" if self._pg or (c.database_url or "").startswith("postgres") else "sqlite",
            "pieces": [asdict(p) for p in pieces]}, indent=2))
        return self

    def _stop_started(self) -> None:
        for p in reversed(self._procs):
            p.stop()
        self._procs.clear()
        if self._pg:
            self._pg.stop()
            self._pg = None

    # -- status / down -------------------------------------------------------------------------------
    def _manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return {"pieces": []}

    def status(self) -> list[PieceStatus]:
        out = []
        for p in self._manifest().get("pieces", []):
            piece = _Piece(**p)
            if piece.name == "postgres":
                port = int(piece.url.rsplit(":", 1)[1])
                running = port_in_use(port)
                out.append(PieceStatus(piece.name, piece.url, None, running, running))
                continue
            running = _alive(piece.pid)
            healthy, detail = False, "not running"
            if running:
                try:
                    r = requests.get(piece.health_url, timeout=2)
                    healthy, detail = r.ok, f"HTTP {r.status_code}"
                except requests.RequestException as exc:
                    detail = type(exc).__name__
            out.append(PieceStatus(piece.name, piece.url, piece.pid, running, healthy, detail))
        return out

    def down(self, timeout: float = 10.0) -> list[str]:
        """Stop every piece (this process's children and those recorded by an earlier `up`)."""
        stopped: list[str] = []
        self._stop_started()
        manifest = self._manifest()
        for p in reversed(manifest.get("pieces", [])):
            if p["name"] == "postgres":
                continue
            if _terminate(p.get("pid"), timeout):
                stopped.append(p["name"])
        if manifest.get("postgres_dir"):
            PostgresCluster(Path(manifest["postgres_dir"])).stop()
            stopped.append("postgres")
        if self.manifest_path.exists():
            self.manifest_path.unlink()
        return stopped

    def __enter__(self) -> "Stack":
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- conveniences for the demo, tests and benchmarks -------------------------------------------------
    def scenario(self, name: str, target: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"scenario": name}
        if target:
            body["target"] = target
        r = requests.post(self.url("exporter") + "/scenario", json=body, timeout=10)
        if r.status_code != 200:
            raise RuntimeError(f"simulator refused scenario {name!r}: {r.text}")
        return r.json()

    def api(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token_from_disk()}"}
        return requests.request(method, self.url("receiver") + path, headers=headers, timeout=10, **kw)

    def token_from_disk(self) -> str:
        if not self.token:
            try:
                self.token = (self.state / "alertmanager" / "receiver_token").read_text().strip()
            except OSError:
                self.token = ""
        return self.token

    def logs_of(self, piece: str) -> Path:
        return self.logs / f"{piece}.log"

    def iter_status_lines(self) -> Iterator[str]:
        for s in self.status():
            state = "healthy" if s.healthy else ("running" if s.running else "stopped")
            yield f"{s.name:<13} {state:<8} {s.url}  {s.detail}".rstrip()


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of this very process counts as stopped
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _terminate(pid: int | None, timeout: float) -> bool:
    if not _alive(pid):
        return False
    assert pid is not None
    try:
        os.killpg(pid, signal.SIGTERM)  # each piece leads its own session/process group
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True
