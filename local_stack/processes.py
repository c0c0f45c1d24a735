"""Real server processes on loopback with readiness waits and clear start-up errors."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

import vocabulary
from catalog import deploy_configs

PG_BIN = Path(os.environ.get("D76_PG_BIN", "/usr/lib/postgresql/15/bin"))


class StartupError(RuntimeError):
    """A piece of the stack failed to start; the message names the piece and the cause."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def require_binary(name: str, piece: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StartupError(f"{piece}: binary {name!r} not found on PATH (run scripts/setup.sh)")
    return path


def wait_http_ok(url: str, timeout: float = 30.0, proc: ManagedProcess | None = None) -> None:
    """Poll `url` until it answers 2xx; fail early if `proc` exits."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StartupError(
                f"{proc.name}: exited with code {proc.poll()} during start-up; "
                f"last log lines:\n{proc.log_tail()}"
            )
        try:
            r = requests.get(url, timeout=1.0)
            if 200 <= r.status_code < 300:
                return
            last = f"HTTP {r.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.05)
    name = proc.name if proc else url
    tail = f"; last log lines:\n{proc.log_tail()}" if proc else ""
    raise StartupError(f"{name}: not ready at {url} after {timeout:.0f}s ({last}){tail}")


@dataclass
class ManagedProcess:
    """A child process with its log file; stopping is graceful then forceful."""

    name: str
    args: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    user: str | None = None   # run as this user (and its group): root starting PostgreSQL's tools
    popen: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            self.args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,
            user=self.user, group=self.user, extra_groups=[] if self.user else None,
        )
        log.close()
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def poll(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def reload(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGHUP)

    def stop(self, timeout: float = 10.0) -> None:
        if not self.popen or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


def alive(pid: int | None) -> bool:
    """Whether process `pid` lives (a zombie child of this very process counts as stopped)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _check_port(piece: str, port: int) -> None:
    if port_in_use(port):
        raise StartupError(f"{piece}: port 127.0.0.1:{port} is already in use")


def _start_ready(name: str, port: int, data_dir: Path, log_path: Path, timeout: float,
                 args: list[str]) -> ManagedProcess:
    """Start a Prometheus or Alertmanager (`args`: the binary and its flags) with its data folder and
    wait until its /-/ready answers on 127.0.0.1:`port`; stopped again if it does not."""
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = ManagedProcess(name, args, log_path).start()
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/-/ready", timeout, proc)
    except StartupError:
        proc.stop()
        raise
    return proc


def start_prometheus(
    config_file: Path, port: int, data_dir: Path, log_path: Path, timeout: float = 30.0, *,
    resend_delay: str = deploy_configs.PROMETHEUS_RESEND_DELAY, name: str = "prometheus",
) -> ManagedProcess:
    """Start a real Prometheus on 127.0.0.1:`port` and wait until /-/ready answers.

    `resend_delay` (`--rules.alert.resend-delay`) is how soon a firing alert is sent to
    Alertmanager again; it also sets the `endsAt` Prometheus stamps on it (4 x the larger of it and
    the evaluation interval). See docs/architecture.md "Timing" for why it is short here.
    """
    binary = require_binary("prometheus", name)
    _check_port(name, port)
    return _start_ready(name, port, data_dir, log_path, timeout, [
        binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        "--web.enable-admin-api",
        f"--web.external-url=http://127.0.0.1:{port}",
        f"--rules.alert.resend-delay={resend_delay}",
    ])


@dataclass(frozen=True)
class ClusterSpec:
    """One Alertmanager's place in a gossip cluster on loopback.

    `listen_port` is this member's gossip port (TCP and UDP); `peer_ports` the other members'.
    `peer_timeout` is how long member N waits for members 0..N-1 to have notified before it
    notifies itself (Alertmanager's deduplication across the cluster).
    """

    listen_port: int
    peer_ports: tuple[int, ...] = ()
    peer_timeout: str = deploy_configs.ALERTMANAGER_PEER_TIMEOUT

    def args(self) -> list[str]:
        h = vocabulary.HOST
        return [f"--cluster.listen-address={h}:{self.listen_port}",
                f"--cluster.advertise-address={h}:{self.listen_port}",
                *(f"--cluster.peer={h}:{p}" for p in self.peer_ports),
                f"--cluster.peer-timeout={self.peer_timeout}"]


def start_alertmanager(
    config_file: Path, port: int, data_dir: Path, log_path: Path, timeout: float = 30.0, *,
    cluster: ClusterSpec | None = None, name: str = "alertmanager",
) -> ManagedProcess:
    """Start a real Alertmanager on 127.0.0.1:`port` and wait until ready.

    Without `cluster` it runs alone (`--cluster.listen-address=` empty: it binds no gossip port,
    so it never clashes with another Alertmanager's default 9094).
    """
    binary = require_binary("prometheus-alertmanager", name)
    _check_port(name, port)
    if cluster is not None:
        _check_port(f"{name} (cluster)", cluster.listen_port)
    return _start_ready(name, port, data_dir, log_path, timeout, [
        binary,
        f"--config.file={config_file}",
        f"--storage.path={data_dir}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url=http://127.0.0.1:{port}",
        *(cluster.args() if cluster else ["--cluster.listen-address="]),
    ])


class PostgresCluster:
    """A throwaway PostgreSQL 15 cluster in `base_dir`, listening on 127.0.0.1:`port`.

    These machines run as root and initdb refuses root, so the cluster folder is owned by
    `postgres` and the server tools run through `runuser` when we are root.
    """

    def __init__(self, base_dir: Path, port: int | None = None, dbname: str = "d76") -> None:
        self.base_dir = Path(base_dir)
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "sock"
        self.log_path = self.base_dir / "postgres.log"
        self.port = port or free_port()
        self.dbname = dbname
        self.user = "postgres"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.dbname}"

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            args = ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(args, check=check, capture_output=True, text=True)

    def init(self) -> PostgresCluster:
        initdb = PG_BIN / "initdb"
        if not initdb.exists():
            raise StartupError(f"postgres: {initdb} not found (PostgreSQL 15 server is not installed)")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.base_dir, "postgres", "postgres")
            shutil.chown(self.socket_dir, "postgres", "postgres")
        if not (self.data_dir / "PG_VERSION").exists():
            res = self._run(
                [str(initdb), "-D", str(self.data_dir), "-A", "trust", "-U", self.user,
                 "-E", "UTF8", "--no-sync"],
                check=False,
            )
            if res.returncode != 0:
                raise StartupError(f"postgres: initdb failed: {res.stderr.strip()[-2000:]}")
        return self

    def start(self, timeout: float = 30.0) -> PostgresCluster:
        _check_port("postgres", self.port)
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.socket_dir} "
            "-c max_connections=200 -c shared_buffers=128MB"
        )
        res = self._run(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-o", opts, "-l",
             str(self.log_path), "-w", "-t", str(int(timeout)), "start"],
            check=False,
        )
        if res.returncode != 0:
            tail = ""
            try:
                tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-10:])
            except OSError:
                pass
            raise StartupError(f"postgres: pg_ctl start failed: {res.stderr.strip()} {tail}")
        self._ensure_database()
        return self

    def _ensure_database(self) -> None:
        psql = [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
                "-d", "postgres", "-tAc"]
        res = self._run([*psql, f"SELECT 1 FROM pg_database WHERE datname='{self.dbname}'"])
        if res.stdout.strip() != "1":
            self._run([*psql, f'CREATE DATABASE "{self.dbname}"'])

    def stop(self, mode: str = "fast") -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"],
                      check=False)

    def is_running(self) -> bool:
        return port_in_use(self.port)
