"""PostgreSQL that fails over, on the standard tools: a Patroni cluster on loopback, its state in etcd.

`PatroniCluster` runs one etcd (a single member: the cluster's consensus store, on loopback) and
one Patroni per PostgreSQL 15 member (Debian packages `patroni` and `etcd-server`). The first member
bootstraps (initdb) and becomes the primary; the others copy it (pg_basebackup) and stream from it.
`synchronous_mode` is on: a commit returns once the synchronous standby has it too, so a receiver
answers 200 only for what survives the primary's loss, and Patroni promotes only that standby.
Clients find the primary with a libpq multi-host URL and `target_session_attrs=read-write`
(`PatroniCluster.url`).

These machines run as root and initdb refuses root: Patroni (and so PostgreSQL) runs as the
`postgres` user, its folders owned by it. Patroni is started directly as that user (not through
`runuser`, which stays in between as the parent and SIGKILLs its child two seconds after a SIGTERM):
the recorded pid is Patroni's own, and a SIGTERM is Patroni's clean shutdown. Patroni starts the
postmaster in a session of its own (it outlives a Patroni crash), so killing a member means both
process groups (`kill`), and a stop looks for a postmaster left behind (`postmaster.pid`).

Timing (`Timing`): Patroni's defaults (ttl 30 s, loop_wait 10 s, retry_timeout 10 s) are made for
a DCS across a network; on loopback etcd answers in milliseconds, so they are scaled down. The
leader key lives `ttl` seconds after the primary last renewed it (every `loop_wait`): a dead
primary is replaced between `ttl - loop_wait` and `ttl` after its death (plus the promotion, about
a second). `retry_timeout` is how long an etcd or PostgreSQL call may fail before Patroni gives up
(the primary then demotes itself rather than risk two primaries); Patroni's rule
`loop_wait + 2 x retry_timeout <= ttl` keeps a primary that is merely slow from losing its key.
docs/ha.md has the measured failover times.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import requests
import yaml

import vocabulary

from .processes import PG_BIN, ManagedProcess, StartupError, alive, port_in_use, require_binary, wait_http_ok

__all__ = ["Timing", "TIMING", "Member", "PatroniCluster", "multi_host_url", "start_etcd", "postmaster_pid",
           "SCOPE"]

SCOPE = "d76"              # Patroni's cluster name (its keys live under /d76/d76/ in etcd)
NAMESPACE = "/d76/"
PG_USER = "postgres"       # the OS user Patroni and PostgreSQL run as, and the database superuser
REPLICATION_USER = "replicator"


@dataclass(frozen=True)
class Timing:
    """Patroni's dynamic settings that decide how fast a dead primary is replaced (module docstring)."""

    ttl: int = 10
    loop_wait: int = 1
    retry_timeout: int = 4

    def __post_init__(self) -> None:
        if self.loop_wait + 2 * self.retry_timeout > self.ttl:
            raise ValueError(f"patroni timing: loop_wait + 2 x retry_timeout must be <= ttl, got {self}")


TIMING = Timing()


@dataclass(frozen=True)
class Member:
    """One PostgreSQL member: its name (`postgres-a`), its PostgreSQL and Patroni REST API ports, its folder."""

    name: str
    pg_port: int
    api_port: int
    base_dir: Path

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "sock"

    @property
    def config_file(self) -> Path:
        return self.base_dir / "patroni.yml"

    @property
    def api_url(self) -> str:
        return f"http://{vocabulary.HOST}:{self.api_port}"

    @property
    def url(self) -> str:
        return f"postgresql://{vocabulary.HOST}:{self.pg_port}"


def multi_host_url(ports: Sequence[int], dbname: str, user: str = PG_USER) -> str:
    """`postgresql://postgres@127.0.0.1:p1,127.0.0.1:p2/d76?target_session_attrs=read-write`: libpq
    tries the hosts in order and keeps the first that accepts writes (the primary)."""
    hosts = ",".join(f"{vocabulary.HOST}:{p}" for p in ports)
    return f"postgresql://{user}@{hosts}/{dbname}?target_session_attrs=read-write"


def member_config(member: Member, etcd_client_port: int, timing: Timing = TIMING) -> dict[str, Any]:
    """Patroni's configuration of one member (written to `member.config_file`)."""
    h = vocabulary.HOST
    # loopback only, no passwords: the same trust as the throwaway single cluster
    hba = ["local all all trust", f"host all all {h}/32 trust", f"host replication all {h}/32 trust"]
    return {
        "scope": SCOPE,
        "namespace": NAMESPACE,
        "name": member.name,
        "log": {"level": "INFO", "format": "%(asctime)s %(levelname)s: %(message)s"},
        "restapi": {"listen": f"{h}:{member.api_port}", "connect_address": f"{h}:{member.api_port}"},
        "etcd3": {"hosts": [f"{h}:{etcd_client_port}"], "protocol": "http"},
        "bootstrap": {
            "dcs": {
                "ttl": timing.ttl, "loop_wait": timing.loop_wait, "retry_timeout": timing.retry_timeout,
                "maximum_lag_on_failover": 1048576,
                # a commit waits for the synchronous standby: what the receiver acknowledged survives a
                # failover; with the standby gone the primary goes on alone (not strict)
                "synchronous_mode": True,
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": {"max_connections": 200, "shared_buffers": "128MB", "wal_keep_size": "128MB"},
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"username": PG_USER}, "no-sync"],
            "pg_hba": hba,  # (Patroni 3.0's --validate-config asks for it here; postgresql.pg_hba applies)
        },
        "postgresql": {
            "listen": f"{h}:{member.pg_port}",
            "connect_address": f"{h}:{member.pg_port}",
            "data_dir": str(member.data_dir),
            "bin_dir": str(PG_BIN),
            "pgpass": str(member.base_dir / "pgpass"),
            "authentication": {"superuser": {"username": PG_USER},
                               "replication": {"username": REPLICATION_USER},
                               "rewind": {"username": PG_USER}},
            "parameters": {"unix_socket_directories": str(member.socket_dir)},
            "pg_hba": hba,
            # a former primary that cannot rewind is copied again (a throwaway local cluster)
            "remove_data_directory_on_rewind_failure": True,
            "remove_data_directory_on_diverged_timelines": True,
            "basebackup": [{"checkpoint": "fast"}],
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }


def start_etcd(data_dir: Path, client_port: int, peer_port: int, log_path: Path, timeout: float = 30.0,
               name: str = "etcd") -> ManagedProcess:
    """A single-member etcd on loopback (the cluster's consensus store); ready when /health says so."""
    binary = require_binary("etcd", name)
    for port, what in ((client_port, ""), (peer_port, " (peer)")):
        if port_in_use(port):
            raise StartupError(f"{name}{what}: port 127.0.0.1:{port} is already in use")
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    h = vocabulary.HOST
    client, peer = f"http://{h}:{client_port}", f"http://{h}:{peer_port}"
    proc = ManagedProcess(name, [
        binary, "--name", SCOPE, "--data-dir", str(data_dir),
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"{SCOPE}={peer}", "--initial-cluster-state", "new",
        "--log-level", "warn"], log_path).start()
    try:
        _wait_etcd_healthy(client, timeout, proc)
    except StartupError:
        proc.stop()
        raise
    return proc


def _wait_etcd_healthy(url: str, timeout: float, proc: ManagedProcess) -> None:
    wait_http_ok(url + "/health", timeout, proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # /health answers 200 with {"health":"false"} before a leader exists
        try:
            if requests.get(url + "/health", timeout=1).json().get("health") == "true":
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.05)
    raise StartupError(f"{proc.name}: not healthy at {url} after {timeout:.0f}s; last log lines:\n{proc.log_tail()}")


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid in `postmaster.pid` when that process lives, else None."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def _timeline_and_lsn(data_dir: Path) -> tuple[int, int]:
    """(timeline, checkpoint LSN) of a member's data folder from pg_controldata; (0, 0) when unknown."""
    if not (data_dir / "PG_VERSION").exists():
        return (0, 0)
    res = _run_as_postgres([str(PG_BIN / "pg_controldata"), str(data_dir)])
    tl = re.search(r"Latest checkpoint's TimeLineID:\s+(\d+)", res.stdout)
    lsn = re.search(r"Latest checkpoint location:\s+([0-9A-F]+)/([0-9A-F]+)", res.stdout)
    if not tl or not lsn:
        return (0, 0)
    return int(tl.group(1)), (int(lsn.group(1), 16) << 32) + int(lsn.group(2), 16)


def _run_as_postgres(args: list[str]) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        args = ["runuser", "-u", PG_USER, "--", *args]
    env = {**os.environ, "LC_ALL": "C"}
    return subprocess.run(args, check=False, capture_output=True, text=True, env=env)


def _member_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATABASE_URL"))}
    if os.geteuid() == 0:
        env.update(HOME=str(Path("~" + PG_USER).expanduser()), USER=PG_USER, LOGNAME=PG_USER)
    return {**env, "PYTHONUNBUFFERED": "1", "LC_ALL": "C.UTF-8"}


def _get_json(url: str, timeout: float = 1.0) -> tuple[int, dict[str, Any]]:
    r = requests.get(url, timeout=timeout)
    try:
        body = r.json()
    except ValueError:
        body = {}
    return r.status_code, body if isinstance(body, dict) else {}


class PatroniCluster:
    """etcd and the Patroni members of one stack, in `base_dir` (`etcd/`, `postgres-a/`, ...)."""

    def __init__(self, base_dir: Path, members: Sequence[Member], etcd_ports: tuple[int, int], *,
                 dbname: str = "d76", timing: Timing = TIMING, logs: Path | None = None) -> None:
        if len(members) < 2:
            raise ValueError("a Patroni cluster here has at least two members (a primary and a replica)")
        self.base_dir = Path(base_dir)
        self.members = list(members)
        self.etcd_client_port, self.etcd_peer_port = etcd_ports
        self.dbname = dbname
        self.timing = timing
        self.logs = logs or self.base_dir / "logs"
        self.etcd: ManagedProcess | None = None
        self.procs: dict[str, ManagedProcess] = {}

    # -- where things are -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The receivers' DATABASE_URL: every member, the primary chosen by libpq."""
        return multi_host_url([m.pg_port for m in self.members], self.dbname)

    @property
    def etcd_url(self) -> str:
        return f"http://{vocabulary.HOST}:{self.etcd_client_port}"

    @property
    def etcd_dir(self) -> Path:
        return self.base_dir / "etcd"

    def member(self, name: str) -> Member:
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(f"no PostgreSQL member {name!r}")

    # -- start ----------------------------------------------------------------------------------------
    def start(self, timeout: float = 60.0, *, wait_standby: bool = True) -> PatroniCluster:
        """etcd, then the member with the newest data (or the first) until it is the primary, the
        database, then the others; with `wait_standby` until one is the synchronous standby (else the
        caller calls `wait_sync_standby` when it needs it: the copy takes a few seconds, which the
        stack spends starting its other pieces). Stops what it started on failure."""
        require_binary("patroni", self.members[0].name)
        if not (PG_BIN / "initdb").exists():
            raise StartupError(f"{self.members[0].name}: {PG_BIN / 'initdb'} not found "
                               "(PostgreSQL 15 is not installed)")
        self._prepare_folders()
        try:
            self.etcd = start_etcd(self.etcd_dir, self.etcd_client_port, self.etcd_peer_port,
                                   self.logs / "etcd.log", timeout)
            first, *rest = self._start_order()
            self.start_member(first.name)
            self.wait_role(first.name, "primary", timeout)
            self._ensure_database(first)
            for m in rest:
                self.start_member(m.name)
            if wait_standby:
                self.wait_sync_standby(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _prepare_folders(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        if not any((m.data_dir / "PG_VERSION").exists() for m in self.members):
            # no member has data: etcd's record of an earlier cluster (its system id) would make
            # Patroni wait for a primary that no longer exists
            shutil.rmtree(self.etcd_dir, ignore_errors=True)
        for m in self.members:
            m.base_dir.mkdir(parents=True, exist_ok=True)
            m.socket_dir.mkdir(exist_ok=True)
            m.config_file.write_text(yaml.safe_dump(member_config(m, self.etcd_client_port, self.timing),
                                                    sort_keys=False))
            if os.geteuid() == 0:
                for path in (m.base_dir, m.socket_dir, m.config_file):
                    shutil.chown(path, PG_USER, PG_USER)

    def _start_order(self) -> list[Member]:
        """The member whose data is newest (highest timeline, then checkpoint) first: after a failover
        and a stop it is the last primary, and starting it first keeps what it committed."""
        ranked = sorted(self.members, key=lambda m: _timeline_and_lsn(m.data_dir), reverse=True)
        if _timeline_and_lsn(ranked[0].data_dir) == (0, 0):
            return list(self.members)
        return ranked

    def start_member(self, name: str) -> ManagedProcess:
        """Start one member's Patroni (also again after `kill`); returns at once, see `wait_role`."""
        m = self.member(name)
        for port, what in ((m.pg_port, ""), (m.api_port, " (patroni)")):
            if port_in_use(port):
                raise StartupError(f"{name}{what}: port 127.0.0.1:{port} is already in use")
        proc = ManagedProcess(name, [require_binary("patroni", name), str(m.config_file)],
                              self.logs / f"{name}.log", env=_member_env(),
                              user=PG_USER if os.geteuid() == 0 else None).start()
        self.procs[name] = proc
        return proc

    def _ensure_database(self, primary: Member) -> None:
        with psycopg.connect(host=vocabulary.HOST, port=primary.pg_port, user=PG_USER, dbname="postgres",
                             autocommit=True, connect_timeout=5) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{self.dbname}"')

    # -- what the members say ----------------------------------------------------------------------------
    def state(self, name: str) -> dict[str, Any]:
        """The member's `GET /patroni` (role master/replica, state, timeline, ...); {} when it does not answer."""
        try:
            return _get_json(self.member(name).api_url + "/patroni")[1]
        except requests.RequestException:
            return {}

    def primary(self) -> str | None:
        """The member that is the running primary now, if any."""
        for m in self.members:
            s = self.state(m.name)
            if s.get("role") in ("master", "primary") and s.get("state") == "running":
                return m.name
        return None

    def wait_role(self, name: str, role: str, timeout: float) -> None:
        """Wait until member `name` is a running `primary` or `replica` (Patroni's /primary, /replica)."""
        proc = self.procs.get(name)
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise StartupError(f"{name}: patroni exited with code {proc.poll()}; last log lines:\n"
                                   f"{proc.log_tail()}")
            try:
                code, body = _get_json(f"{self.member(name).api_url}/{role}")
                if code == 200:
                    return
                last = f"{body.get('role', '?')}, {body.get('state', '?')}"
            except requests.RequestException as exc:
                last = type(exc).__name__
            time.sleep(0.1)
        tail = proc.log_tail() if proc else ""
        raise StartupError(f"{name}: not a running {role} after {timeout:.0f}s ({last}); last log lines:\n{tail}")

    def wait_streaming(self, name: str, timeout: float) -> None:
        """Wait until the primary streams to member `name` (a restarted former primary has rewound
        and follows; Patroni's /replica says `running` before that)."""
        proc = self.procs.get(name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise StartupError(f"{name}: patroni exited with code {proc.poll()}; last log lines:\n"
                                   f"{proc.log_tail()}")
            primary = self.primary()
            if primary is not None and any(
                    r.get("application_name") == name and r.get("state") == "streaming"
                    for r in self.state(primary).get("replication") or []):
                return
            time.sleep(0.1)
        raise StartupError(f"{name}: the primary does not stream to it after {timeout:.0f}s; last log lines:\n"
                           f"{proc.log_tail() if proc else ''}")

    def wait_sync_standby(self, timeout: float) -> str:
        """Wait until some member is the synchronous standby (Patroni's /sync); its name. Until then
        a commit waits on nobody and a failover has no standby it may promote."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.members:
                proc = self.procs.get(m.name)
                if proc is not None and proc.poll() is not None:
                    raise StartupError(f"{m.name}: patroni exited with code {proc.poll()}; last log lines:\n"
                                       f"{proc.log_tail()}")
                try:
                    if _get_json(m.api_url + "/sync")[0] == 200:
                        return m.name
                except requests.RequestException:
                    pass
            time.sleep(0.1)
        tails = "\n".join(f"{n}:\n{p.log_tail(8)}" for n, p in self.procs.items())
        raise StartupError(f"{self.members[-1].name}: no synchronous standby after {timeout:.0f}s; last log lines:\n"
                           f"{tails}")

    # -- faults and stop --------------------------------------------------------------------------------
    def kill(self, name: str, sig: int = signal.SIGKILL, patroni_pid: int | None = None) -> None:
        """Send `sig` to a member's Patroni and to its PostgreSQL (postmaster and backends): SIGKILL
        is the member's host dying. `patroni_pid`: when this object did not start it (a recorded stack)."""
        m = self.member(name)
        proc = self.procs.get(name)
        pid = proc.pid if proc is not None and proc.poll() is None else patroni_pid
        postmaster = postmaster_pid(m.data_dir)
        if pid is None and postmaster is None:
            raise KeyError(f"no running member {name!r}")
        if pid is not None:  # Patroni first: it would start PostgreSQL again
            _signal_group(pid, sig)
        if postmaster is not None:
            _signal_group(postmaster, sig)
        if sig != signal.SIGKILL:
            return
        if proc is not None and proc.popen is not None:
            proc.popen.wait(10)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in (pid, postmaster) if p) and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop every member at once (Patroni stops its PostgreSQL), then etcd."""
        stop_members({n: p.pid for n, p in self.procs.items() if p.poll() is None},
                     [m.data_dir for m in self.members], timeout)
        for p in self.procs.values():
            if p.popen is not None and p.popen.poll() is None:
                p.popen.wait(5)
        self.procs.clear()
        if self.etcd is not None:
            self.etcd.stop()
            self.etcd = None


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(os.getpgid(pid), sig)
    except ProcessLookupError:
        pass


def stop_members(pids: dict[str, int | None], data_dirs: Sequence[Path], timeout: float) -> None:
    """SIGTERM every member's Patroni together (each stops its PostgreSQL; stopped one after the
    other, a replica would take over from the primary stopped first), SIGKILL after `timeout`; then
    stop a PostgreSQL left running without its Patroni (`pg_ctl stop -m fast`)."""
    live = {n: p for n, p in pids.items() if p and alive(p)}
    for pid in live.values():
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in live.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in live.values():
        if alive(pid):
            _signal_group(pid, signal.SIGKILL)
    for data_dir in data_dirs:
        if postmaster_pid(data_dir) is not None:
            _run_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "-t", "20", "stop"])

