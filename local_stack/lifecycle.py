"""Starting and stopping the pieces of a local stack.

`StartedPieces.start_all` starts, in this order, [the throwaway PostgreSQL, or in the HA shape etcd
and the Patroni members (`local_stack.patroni`): the primary is waited for, the replica's copy and
its becoming the synchronous standby at the very end], the simulator (or
records the bot's targets, which are not ours to start), the receiver(s) one at a time (the first
applies the migrations the others then find done), the Alertmanager(s) until their gossip cluster
has formed, and the Prometheus replica(s) until each sends to every Alertmanager; each with a
readiness wait. A failure names the piece
and stops what was started. Every piece runs in its own session and process group, so `d76 stack
up` can return while they keep running and `stop_stack` (from another process too: the manifest
records the pids) can end each group.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import requests

import vocabulary

from . import defaults
from .config import StackConfig
from .manifest import Piece
from .patroni import Member, PatroniCluster, stop_members
from .preflight import check_postgres_reachable
from .probes import Probe, active_alertmanagers, probe_alertmanager
from .processes import (
    ClusterSpec,
    ManagedProcess,
    PostgresCluster,
    StartupError,
    alive,
    port_in_use,
    start_alertmanager,
    start_prometheus,
    wait_http_ok,
)
from .render import Rendered, receiver_env
from .state import write_secret

__all__ = ["StartedPieces", "alive", "postgres_running", "terminate", "stop_stack"]


class StartedPieces:
    """The pieces one `Stack` object started: their processes, their records and the database."""

    def __init__(self, config: StackConfig, state: Path) -> None:
        self.config = config
        self.state = state
        self.logs = state / "logs"
        self.procs: dict[str, ManagedProcess] = {}
        self.pieces: dict[str, Piece] = {}
        self.postgres: PostgresCluster | None = None
        self.patroni: PatroniCluster | None = None
        self.database_url = ""
        self.rendered: Rendered | None = None

    def start_all(self, rendered: Rendered) -> None:
        """Start every piece; on any failure stop what was started and raise."""
        c = self.config
        self.rendered = rendered
        try:
            self.database_url = c.database_url or ""
            if c.uses_patroni():
                check_postgres_reachable(self.state)
                # the replica copies the primary while the other pieces start; waited for below
                self.patroni = self.patroni_cluster().start(c.ready_timeout, wait_standby=False)
                self.database_url = self.patroni.url
                self._add_patroni_pieces(self.patroni)
            elif c.uses_postgres_cluster():
                check_postgres_reachable(self.state)
                self.postgres = PostgresCluster(self.state / "postgres", port=c.postgres_port).init().start()
                self.database_url = self.postgres.url
                self._add(Piece("postgres", c.url("postgres"), "", None, str(self.postgres.log_path),
                                kind="postgres"), None)
            self.database_url = self.database_url or f"sqlite:///{self.state / 'history.db'}"
            write_secret(self.state, defaults.STATE_DATABASE_URL_FILE, self.database_url)
            self._start_exporter()
            # one at a time: the first receiver applies the migrations the others then find done
            for i in range(len(c.receiver_ports())):
                self.start_receiver(i)
            for i in range(len(c.alertmanager_ports())):
                self.start_alertmanager(i)
            self._wait_cluster()
            for i in range(len(c.prometheus_ports())):
                self.start_prometheus(i)
            if self.patroni is not None:  # until then a failover would have no standby it may promote
                self.patroni.wait_sync_standby(c.ready_timeout)
            self._wait_alertmanagers_found()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process this object started, last started first, then its PostgreSQL."""
        for p in reversed(list(self.procs.values())):
            p.stop()
        self.procs.clear()
        self.pieces.clear()
        if self.postgres:
            self.postgres.stop()
            self.postgres = None
        if self.patroni:
            self.patroni.stop()
            self.patroni = None

    # -- the HA shape's PostgreSQL --------------------------------------------------------------------
    def patroni_cluster(self) -> PatroniCluster:
        """The Patroni cluster this object started, else the one the config describes (to signal the
        members of a stack another process started: their folders are known, their pids recorded)."""
        if self.patroni is not None:
            return self.patroni
        c = self.config
        members = [Member(name, port, api, self.state / "patroni" / name)
                   for name, port, api in zip(c.names("postgres"), c.postgres_ports(), c.patroni_ports)]
        return PatroniCluster(self.state / "patroni", members, (c.etcd_ports[0], c.etcd_ports[1]), logs=self.logs)

    def _add_patroni_pieces(self, cluster: PatroniCluster) -> None:
        etcd = cluster.etcd
        assert etcd is not None
        self._add(Piece("etcd", cluster.etcd_url, cluster.etcd_url + "/health", etcd.pid, str(etcd.log_path),
                        kind="etcd"), None)
        for i, m in enumerate(cluster.members):
            proc = cluster.procs[m.name]
            self._add(Piece(m.name, m.url, m.api_url + "/health", proc.pid, str(proc.log_path), kind="postgres",
                            index=i, api_url=m.api_url), None)

    # -- one piece ------------------------------------------------------------------------------------
    def _add(self, piece: Piece, proc: ManagedProcess | None) -> None:
        self.pieces[piece.name] = piece
        if proc is not None:
            self.procs[piece.name] = proc

    def _cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "d76_cli.main", *args]

    def _data_dir(self, name: str) -> Path:
        kind, _ = self.config.resolve(name)
        return self.state / kind / ("data" if name == kind else f"data-{name.split('-', 1)[1]}")

    def _rendered(self) -> Rendered:
        if self.rendered is None:
            raise StartupError("stack: nothing rendered yet (start pieces through Stack.up)")
        return self.rendered

    def _start_exporter(self) -> None:
        c = self.config
        url = c.url("exporter")
        if not c.runs_simulator():  # the bot's own exporter(s): not ours to start or stop
            for i, target in enumerate(c.scrape_targets(), 1):
                self._add(Piece(f"target-{i}", f"http://{target}", f"http://{target}/metrics", None, "",
                                kind="target"), None)
            return
        sim = ManagedProcess("exporter", self._cli(
            "simulate", "--scenario", c.scenario, "--listen", f"{vocabulary.HOST}:{c.exporter_port}",
            *c.simulator_args), self.logs / "exporter.log").start()
        self.procs["exporter"] = sim
        wait_http_ok(url + "/metrics", c.ready_timeout, sim)
        self._add(Piece("exporter", url, url + "/metrics", sim.pid, str(sim.log_path), kind="exporter"), sim)

    def start_receiver(self, index: int) -> None:
        c = self.config
        name = c.piece_name("receiver", index)
        url = c.url(name)
        port = c.ports("receiver")[index]
        env = receiver_env(c, self._rendered(), index, self.database_url)
        rcv = ManagedProcess(name, self._cli("receiver", "--listen", f"{vocabulary.HOST}:{port}"),
                             self.logs / f"{name}.log", env=env).start()
        self.procs[name] = rcv
        wait_http_ok(url + "/readyz", c.ready_timeout, rcv)
        self._add(Piece(name, url, url + "/readyz", rcv.pid, str(rcv.log_path), kind="receiver", index=index), rcv)

    def start_alertmanager(self, index: int) -> None:
        c = self.config
        name = c.piece_name("alertmanager", index)
        url = c.url(name)
        cluster = None
        if c.ha:
            cluster = ClusterSpec(c.cluster_ports[index],
                                  tuple(p for i, p in enumerate(c.cluster_ports) if i != index), c.peer_timeout)
        am = start_alertmanager(self._rendered().alertmanager_config, c.ports("alertmanager")[index],
                                self._data_dir(name), self.logs / f"{name}.log", c.ready_timeout,
                                cluster=cluster, name=name)
        self._add(Piece(name, url, url + "/-/ready", am.pid, str(am.log_path), kind="alertmanager", index=index,
                        expected_peers=len(c.cluster_ports) if c.ha else 0), am)

    def start_prometheus(self, index: int) -> None:
        c = self.config
        name = c.piece_name("prometheus", index)
        url = c.url(name)
        prom = start_prometheus(self._rendered().prometheus_config(name), c.ports("prometheus")[index],
                                self._data_dir(name), self.logs / f"{name}.log", c.ready_timeout,
                                resend_delay=c.resend_delay, name=name)
        self._add(Piece(name, url, url + "/-/ready", prom.pid, str(prom.log_path), kind="prometheus",
                        index=index), prom)

    def _wait_alertmanagers_found(self) -> None:
        """Every Prometheus sends to every Alertmanager of the stack (its notifier lists them as
        active): right after start it sends to none for a few seconds, and an alert fired then would
        reach nobody, so the stack is not healthy before."""
        want = len(self.config.alertmanager_ports())
        deadline = time.monotonic() + self.config.ready_timeout
        for piece in [p for p in self.pieces.values() if p.kind == "prometheus"]:
            found: list[str] = []
            while time.monotonic() < deadline:
                try:
                    found = active_alertmanagers(piece.url)
                except (requests.RequestException, ValueError, KeyError, TypeError):
                    found = []
                if len(found) >= want:
                    break
                time.sleep(0.2)
            else:
                raise StartupError(f"{piece.name}: sends to {len(found)} of {want} Alertmanager(s) after "
                                   f"{self.config.ready_timeout:.0f}s; see {piece.log}")

    def _wait_cluster(self) -> None:
        """Every Alertmanager settled and seeing every member: until then a notification could go
        out from two members that do not know of each other yet."""
        deadline = time.monotonic() + self.config.ready_timeout
        pending = [p for p in self.pieces.values() if p.kind == "alertmanager" and p.expected_peers]
        last: Probe | None = None
        while pending and time.monotonic() < deadline:
            last = probe_alertmanager(pending[0].url, pending[0].expected_peers)
            if last.healthy:
                pending.pop(0)
            else:
                time.sleep(0.2)
        if pending:
            raise StartupError(f"{pending[0].name}: gossip cluster not formed after "
                               f"{self.config.ready_timeout:.0f}s ({last.detail if last else 'no answer'}); "
                               f"see {pending[0].log}")


# -- a whole stack (also one another process started), and whether a process lives ---------------------
def stop_stack(started: StartedPieces, recorded: list[Piece], postgres_dir: str | None, timeout: float,
               patroni_dir: str | None = None) -> list[str]:
    """Stop a whole stack: the processes `started` holds (this process's children), then every
    recorded piece's process group, last started first (SIGTERM, SIGKILL after `timeout`), then the
    PostgreSQL: the Patroni members together and their etcd (`patroni_dir`), or the throwaway cluster
    in `postgres_dir`. Returns the names of the pieces that were running."""
    members = [p for p in recorded if p.kind == "postgres" and p.pid]
    etcd = [p for p in recorded if p.kind == "etcd"]
    pieces = [p for p in reversed(recorded) if p.kind not in ("postgres", "etcd")]
    stopped = [p.name for p in pieces if alive(p.pid)] + [p.name for p in members + etcd if alive(p.pid)]
    started.stop()
    for p in pieces:
        terminate(p.pid, timeout)
    if patroni_dir:
        stop_members({p.name: p.pid for p in members}, [Path(patroni_dir) / p.name / "data" for p in members],
                     max(timeout, 20.0))
    for p in etcd:
        terminate(p.pid, timeout)
    if postgres_dir:
        PostgresCluster(Path(postgres_dir)).stop()
        stopped.append("postgres")
    return stopped


def postgres_running(piece: Piece) -> bool:
    """A Patroni member runs while its Patroni lives; the throwaway cluster has no pid of ours: its
    port answering is it running."""
    if piece.pid:
        return alive(piece.pid)
    return port_in_use(int(piece.url.rsplit(":", 1)[1]))


def terminate(pid: int | None, timeout: float) -> bool:
    if not alive(pid):
        return False
    assert pid is not None
    try:
        os.killpg(pid, signal.SIGTERM)  # each piece leads its own session/process group
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True
