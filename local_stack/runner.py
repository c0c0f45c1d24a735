"""The whole pipeline on one machine, without Docker: simulator -> Prometheus -> Alertmanager -> receiver.

`Stack(StackConfig(...)).up()` renders the configs (`catalog.deploy_configs`, from the catalog)
into the state folder, starts each piece with a readiness wait (a failure names the piece and stops
what was started), and records pids in `state/stack.json` so `status` and `down` work from another
command. Processes run in their own sessions, so `d76 stack up` can return while they keep running.

Two shapes:

- single: one Prometheus, one Alertmanager (no cluster), one receiver (SQLite by default);
- `ha=True`: two Prometheus replicas (same rules, `replica` external label dropped from alerts),
  three Alertmanagers in one gossip cluster on loopback, every Prometheus sending to every
  Alertmanager, two receivers on one PostgreSQL (the throwaway cluster unless `database_url` is
  given), every Alertmanager posting to both receivers. Pieces are named `prometheus-a`,
  `alertmanager-b`, `receiver-a`, ... ; `url("prometheus")` is replica a.

The bot: by default the simulator on `exporter_port`; `targets` (`host:port`, repeatable: the real
bot's exporters) are scraped instead and the simulator does not start. `status()` reports each
target's scrape health as Prometheus sees it (`/api/v1/targets`).

Links: the rules' `runbook_url` points at this stack's receiver (its real port) unless the override
file sets `policy.external_url` (then the receiver also gets RECEIVER_EXTERNAL_URL, for history links)
or `policy.runbook_base_url`. `notes()` says which, once, at start.

The state folder is read back through `local_stack.state` (also by the other `d76` commands).
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import requests

import vocabulary
from catalog import Catalog, deploy_configs, load_catalog, render_channel_map, render_rule_files
from catalog.deploy_configs import alertmanager_config, local_topology, parse_target, prometheus_config, replica_name
from catalog.render_prometheus import SCRAPE_JOB
from webhook_receiver.settings import redact_url

from . import defaults
from .probes import (
    Probe,
    describe_scrape,
    probe_alertmanager,
    probe_http,
    probe_prometheus,
    probe_receiver,
    probe_targets,
    scraped,
)
from .processes import (
    ClusterSpec,
    ManagedProcess,
    PostgresCluster,
    StartupError,
    free_port,
    port_in_use,
    start_alertmanager,
    start_prometheus,
    wait_http_ok,
)
from .state import piece_kind, read_file, read_manifest, recorded_pieces

__all__ = ["StackConfig", "Stack", "PieceStatus", "StartupError", "DEFAULT_STATE_DIR", "MANIFEST", "TOKEN_FILE",
           "DATABASE_URL_FILE"]

DEFAULT_STATE_DIR = defaults.DEFAULT_STATE_DIR
KINDS = ("postgres", "exporter", "receiver", "alertmanager", "prometheus")
# in the state folder: what `d76 history`, `d76 ack` ... read to find the stack (d76_cli.stack_client)
MANIFEST = defaults.STATE_MANIFEST
TOKEN_FILE = defaults.STATE_TOKEN_FILE
DATABASE_URL_FILE = defaults.STATE_DATABASE_URL_FILE


@dataclass
class StackConfig:
    state_dir: Path = DEFAULT_STATE_DIR
    exporter_port: int = vocabulary.EXPORTER_PORT
    prometheus_port: int = vocabulary.PROMETHEUS_PORT        # single, or replica a
    alertmanager_port: int = vocabulary.ALERTMANAGER_PORT    # single, or replica a
    receiver_port: int = vocabulary.RECEIVER_PORT            # single, or replica a
    postgres_port: int = vocabulary.POSTGRES_PORT
    catalog_override: Path | None = None
    database_url: str | None = None       # default: SQLite in the state folder (HA: the throwaway PostgreSQL)
    postgres: bool = False                # start a throwaway PostgreSQL cluster in the state folder
    scenario: str = "calm"
    simulator_args: list[str] = field(default_factory=lambda: ["--tick", "0.25"])
    simulator: bool = True                # False: scrape the bot's own exporter on exporter_port
    targets: tuple[str, ...] = ()         # the real bot's exporters (host:port); the simulator then does not start
    receiver_env: dict[str, str] = field(default_factory=dict)
    ready_timeout: float = 40.0
    resend_delay: str = deploy_configs.PROMETHEUS_RESEND_DELAY
    # the HA shape: the other replicas' ports (replica a uses the ports above)
    ha: bool = False
    ha_prometheus_ports: tuple[int, ...] = vocabulary.HA_PROMETHEUS_PORTS[1:]
    ha_alertmanager_ports: tuple[int, ...] = vocabulary.HA_ALERTMANAGER_PORTS[1:]
    ha_receiver_ports: tuple[int, ...] = vocabulary.HA_RECEIVER_PORTS[1:]
    cluster_ports: tuple[int, ...] = vocabulary.HA_ALERTMANAGER_CLUSTER_PORTS  # one per Alertmanager
    peer_timeout: str = deploy_configs.ALERTMANAGER_PEER_TIMEOUT

    def prometheus_ports(self) -> tuple[int, ...]:
        return (self.prometheus_port, *self.ha_prometheus_ports) if self.ha else (self.prometheus_port,)

    def alertmanager_ports(self) -> tuple[int, ...]:
        return (self.alertmanager_port, *self.ha_alertmanager_ports) if self.ha else (self.alertmanager_port,)

    def receiver_ports(self) -> tuple[int, ...]:
        return (self.receiver_port, *self.ha_receiver_ports) if self.ha else (self.receiver_port,)

    def uses_postgres_cluster(self) -> bool:
        return self.postgres or (self.ha and not self.database_url)

    def runs_simulator(self) -> bool:
        return self.simulator and not self.targets

    def scrape_targets(self) -> tuple[str, ...]:
        """What Prometheus scrapes as job d75: the given targets, else the simulator (or, without
        it, the bot's exporter) on exporter_port."""
        return tuple(self.targets) or (f"{vocabulary.HOST}:{self.exporter_port}",)

    @classmethod
    def with_free_ports(cls, state_dir: Path, *, ha: bool = False, **kw: Any) -> StackConfig:
        """Every port picked free right now (tests, benchmarks, `d76 demo --free-ports`)."""
        base = cls(state_dir=state_dir, ha=ha, **kw)
        n_prom, n_am, n_rcv = (len(base.prometheus_ports()), len(base.alertmanager_ports()),
                               len(base.receiver_ports()))

        def free(n: int) -> tuple[int, ...]:
            return tuple(free_port() for _ in range(n))

        return replace(base, exporter_port=free_port(), prometheus_port=free_port(),
                       alertmanager_port=free_port(), receiver_port=free_port(), postgres_port=free_port(),
                       ha_prometheus_ports=free(n_prom - 1) if ha else base.ha_prometheus_ports,
                       ha_alertmanager_ports=free(n_am - 1) if ha else base.ha_alertmanager_ports,
                       ha_receiver_ports=free(n_rcv - 1) if ha else base.ha_receiver_ports,
                       cluster_ports=free(n_am) if ha else base.cluster_ports)


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
    kind: str = ""
    index: int = 0
    expected_peers: int = 0   # alertmanager in a cluster: members it should see

    @classmethod
    def from_manifest(cls, d: dict[str, Any]) -> _Piece:
        known = {f.name for f in fields(cls)}
        piece = cls(**{k: v for k, v in d.items() if k in known})
        piece.kind = piece_kind(d)
        return piece


class Stack:
    """Start, inspect and stop the local stack. Also a context manager (up on enter, down on exit)."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.state = Path(self.config.state_dir).resolve()
        self.logs = self.state / "logs"
        self._procs: dict[str, ManagedProcess] = {}
        self._pg: PostgresCluster | None = None
        self._pieces: dict[str, _Piece] = {}
        self._database_url = ""
        self.token = ""
        self.catalog: Catalog | None = None

    # -- names and urls ------------------------------------------------------------------------------
    def piece_name(self, kind: str, index: int = 0) -> str:
        """`prometheus` in the single shape; `prometheus-a`, `prometheus-b`, ... in the HA shape."""
        if kind in ("postgres", "exporter") or not self.config.ha:
            return kind
        return f"{kind}-{replica_name(index)}"

    def _ports(self, kind: str) -> tuple[int, ...]:
        c = self.config
        return {"exporter": (c.exporter_port,), "prometheus": c.prometheus_ports(),
                "alertmanager": c.alertmanager_ports(), "receiver": c.receiver_ports(),
                "postgres": (c.postgres_port,)}[kind]

    def names(self, kind: str) -> list[str]:
        """The pieces of one kind, in replica order."""
        return [self.piece_name(kind, i) for i in range(len(self._ports(kind)))]

    def _resolve(self, piece: str) -> tuple[str, int]:
        kind, _, suffix = piece.partition("-")
        if kind not in KINDS:
            raise KeyError(f"unknown piece {piece!r}")
        index = vocabulary.REPLICA_NAMES.index(suffix) if suffix else 0
        return kind, index

    def url(self, piece: str) -> str:
        """Base URL of a piece; a bare kind (`prometheus`) is the first replica. Pieces recorded by
        an earlier `up` (another process) are found where they were started."""
        return self._url(piece, {p.name: p.url for p in self._recorded()})

    def _url(self, piece: str, recorded: dict[str, str]) -> str:
        kind, index = self._resolve(piece)
        for candidate in (piece, f"{kind}-{replica_name(index)}"):
            if candidate in recorded:
                return recorded[candidate]
        port = self._ports(kind)[index]
        return f"postgresql://127.0.0.1:{port}" if kind == "postgres" else f"http://{vocabulary.HOST}:{port}"

    def urls(self, kind: str) -> list[str]:
        recorded = {p.name: p.url for p in self._recorded()}
        return [self._url(n, recorded) for n in self.names(kind)]

    @property
    def manifest_path(self) -> Path:
        return self.state / MANIFEST

    # -- rendering ------------------------------------------------------------------------------------
    def _render(self) -> None:
        c = self.config
        # runbook links: this stack's receiver, on its real port, unless the override file says otherwise
        catalog: Catalog = load_catalog(c.catalog_override,
                                        runbook_base_url=f"http://{vocabulary.HOST}:{c.receiver_port}/runbooks/")
        self.catalog = catalog
        prom_dir, am_dir = self.state / "prometheus", self.state / "alertmanager"
        (prom_dir / "rules").mkdir(parents=True, exist_ok=True)
        am_dir.mkdir(parents=True, exist_ok=True)
        for old in (prom_dir / "rules").glob("*.yml"):
            old.unlink()
        for name, text in render_rule_files(catalog).items():
            (prom_dir / "rules" / name).write_text(text)
        topo = local_topology(exporter_port=c.exporter_port, prometheus_ports=c.prometheus_ports(),
                              alertmanager_ports=c.alertmanager_ports(), receiver_ports=c.receiver_ports(),
                              targets=c.scrape_targets())
        for i, name in enumerate(self.names("prometheus")):
            self._prometheus_config(name).write_text(prometheus_config(catalog, topo, i))
        self.token = secrets.token_urlsafe(32)
        self._write_secret(TOKEN_FILE, self.token)
        (am_dir / "alertmanager.yml").write_text(alertmanager_config(catalog, topo))
        (self.state / "channel_map.yml").write_text(render_channel_map(catalog))

    def _prometheus_config(self, name: str) -> Path:
        return self.state / "prometheus" / f"{name}.yml"

    def _data_dir(self, name: str) -> Path:
        kind, _ = self._resolve(name)
        return self.state / kind / ("data" if name == kind else f"data-{name.split('-', 1)[1]}")

    # -- checks ---------------------------------------------------------------------------------------
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

    def _check_config(self) -> None:
        c = self.config
        targets = []
        for t in c.targets:
            try:
                targets.append(parse_target(t))
            except ValueError as exc:
                raise StartupError(f"target: {exc}") from None
        if len(set(targets)) != len(targets):
            raise StartupError(f"target: a target is given twice ({', '.join(c.targets)})")
        c.targets = tuple(targets)
        if not c.ha:
            return
        if len(c.cluster_ports) != len(c.alertmanager_ports()):
            raise StartupError(f"alertmanager: {len(c.alertmanager_ports())} Alertmanagers need as many "
                               f"cluster ports, got {len(c.cluster_ports)}")
        if c.database_url and not c.database_url.startswith("postgres"):
            raise StartupError("receiver: the HA receivers share one PostgreSQL database; "
                               "give a postgresql:// --database-url or none (a throwaway cluster is started)")

    def _check_ports(self) -> None:
        c = self.config
        wanted: list[tuple[str, int]] = []
        if c.runs_simulator():
            wanted.append(("exporter", c.exporter_port))
        for kind in ("receiver", "alertmanager", "prometheus"):
            wanted += list(zip(self.names(kind), self._ports(kind)))
        if c.ha:
            wanted += [(f"{n} (cluster)", p) for n, p in zip(self.names("alertmanager"), c.cluster_ports)]
        if c.uses_postgres_cluster():
            wanted.append(("postgres", c.postgres_port))
        seen: dict[int, str] = {}
        for piece, port in wanted:
            if port in seen:
                raise StartupError(f"{piece}: port {port} is also given to {seen[port]}")
            seen[port] = piece
            if port_in_use(port):
                kind, _, replica = piece.split(" ")[0].partition("-")
                option = ("--cluster-ports" if piece.endswith("(cluster)") else
                          f"--ha-{kind}-ports" if replica not in ("", "a") else f"--{kind}-port")
                raise StartupError(f"{piece}: port 127.0.0.1:{port} is already in use "
                                   f"(another stack? try `d76 stack down` or {option})")

    def _cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "d76_cli.main", *args]

    # -- starting pieces ------------------------------------------------------------------------------
    def _add(self, piece: _Piece, proc: ManagedProcess | None) -> None:
        self._pieces[piece.name] = piece
        if proc is not None:
            self._procs[piece.name] = proc

    def _start_exporter(self) -> None:
        c = self.config
        url = self.url("exporter")
        if not c.runs_simulator():  # the bot's own exporter(s): not ours to start or stop
            for i, target in enumerate(c.scrape_targets(), 1):
                self._add(_Piece(f"target-{i}", f"http://{target}", f"http://{target}/metrics", None, "",
                                 kind="target"), None)
            return
        sim = ManagedProcess("exporter", self._cli(
            "simulate", "--scenario", c.scenario, "--listen", f"{vocabulary.HOST}:{c.exporter_port}",
            *c.simulator_args), self.logs / "exporter.log").start()
        self._procs["exporter"] = sim
        wait_http_ok(url + "/metrics", c.ready_timeout, sim)
        self._add(_Piece("exporter", url, url + "/metrics", sim.pid, str(sim.log_path), kind="exporter"), sim)

    def _receiver_env(self, index: int) -> dict[str, str]:
        c = self.config
        am_urls, prom_urls = self.urls("alertmanager"), self.urls("prometheus")
        env = {**os.environ, "DATABASE_URL": self._database_url, "RECEIVER_TOKEN": self.token,
               "CHANNEL_MAP_FILE": str(self.state / "channel_map.yml"),
               # each receiver talks to "its" Alertmanager first (silences gossip across the cluster) and
               # falls back to the others; the history reconciler polls them all
               "ALERTMANAGER_URL": ",".join(am_urls[index % len(am_urls):] + am_urls[:index % len(am_urls)]),
               # graphs in the page and /status read Prometheus (its replica of the same letter)
               "PROMETHEUS_URL": prom_urls[index % len(prom_urls)],
               "NOTIFICATIONS_ENABLED": "true",
               "PYTHONUNBUFFERED": "1"}
        if self.catalog is not None and self.catalog.external_url:
            # history links in messages (`<external>/alerts/<id>`) for a phone; policy.external_url
            env["RECEIVER_EXTERNAL_URL"] = self.catalog.external_url
        env.update(c.receiver_env)
        if index > 0:
            # one bot has one getUpdates consumer (Telegram answers 409 to a second): replica a polls
            env["TELEGRAM_POLLING"] = "false"
        return env

    def _start_receiver(self, index: int) -> None:
        c = self.config
        name = self.piece_name("receiver", index)
        url = self.url(name)
        port = self._ports("receiver")[index]
        rcv = ManagedProcess(name, self._cli("receiver", "--listen", f"{vocabulary.HOST}:{port}"),
                             self.logs / f"{name}.log", env=self._receiver_env(index)).start()
        self._procs[name] = rcv
        wait_http_ok(url + "/readyz", c.ready_timeout, rcv)
        self._add(_Piece(name, url, url + "/readyz", rcv.pid, str(rcv.log_path), kind="receiver", index=index), rcv)

    def _start_alertmanager(self, index: int) -> None:
        c = self.config
        name = self.piece_name("alertmanager", index)
        url = self.url(name)
        cluster = None
        if c.ha:
            cluster = ClusterSpec(c.cluster_ports[index],
                                  tuple(p for i, p in enumerate(c.cluster_ports) if i != index), c.peer_timeout)
        am = start_alertmanager(self.state / "alertmanager" / "alertmanager.yml", self._ports("alertmanager")[index],
                                self._data_dir(name), self.logs / f"{name}.log", c.ready_timeout,
                                cluster=cluster, name=name)
        self._add(_Piece(name, url, url + "/-/ready", am.pid, str(am.log_path), kind="alertmanager", index=index,
                         expected_peers=len(c.cluster_ports) if c.ha else 0), am)

    def _start_prometheus(self, index: int) -> None:
        c = self.config
        name = self.piece_name("prometheus", index)
        url = self.url(name)
        prom = start_prometheus(self._prometheus_config(name), self._ports("prometheus")[index], self._data_dir(name),
                                self.logs / f"{name}.log", c.ready_timeout, resend_delay=c.resend_delay, name=name)
        self._add(_Piece(name, url, url + "/-/ready", prom.pid, str(prom.log_path), kind="prometheus",
                         index=index), prom)

    def _wait_cluster(self) -> None:
        """Every Alertmanager settled and seeing every member: until then a notification could go
        out from two members that do not know of each other yet."""
        deadline = time.monotonic() + self.config.ready_timeout
        pending = [p for p in self._pieces.values() if p.kind == "alertmanager" and p.expected_peers]
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

    # -- up ---------------------------------------------------------------------------------------------
    def up(self) -> Stack:
        if self._any_running():
            raise StartupError(f"a stack is already running from {self.state} (`d76 stack down` first)")
        self.manifest_path.unlink(missing_ok=True)  # a stale record of a stack that died
        self.state.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        c = self.config
        self._check_config()
        self._check_ports()
        self._render()
        try:
            self._database_url = c.database_url or ""
            if c.uses_postgres_cluster():
                self._check_postgres_reachable()
                self._pg = PostgresCluster(self.state / "postgres", port=c.postgres_port).init().start()
                self._database_url = self._pg.url
                self._add(_Piece("postgres", self.url("postgres"), "", None, str(self._pg.log_path),
                                 kind="postgres"), None)
            self._database_url = self._database_url or f"sqlite:///{self.state / 'history.db'}"
            self._write_secret(DATABASE_URL_FILE, self._database_url)
            self._start_exporter()
            # one at a time: the first receiver applies the migrations the others then find done
            for i in range(len(c.receiver_ports())):
                self._start_receiver(i)
            for i in range(len(c.alertmanager_ports())):
                self._start_alertmanager(i)
            self._wait_cluster()
            for i in range(len(c.prometheus_ports())):
                self._start_prometheus(i)
        except BaseException:
            self._stop_started()
            raise
        self._write_manifest()
        return self

    def _write_secret(self, name: str | Path, text: str) -> None:
        path = self.state / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(text)

    def wait_first_scrape(self, timeout: float = 10.0) -> bool:
        """Wait until Prometheus has scraped each target once (its discovery reports every 5 s), so
        a status printed right after `up` says up or down, with the error, rather than "not scraped
        yet". A bot that is not running is not an error here: its target shows down until it starts."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = probe_targets(self.url("prometheus"), SCRAPE_JOB)
            if health is not None and all(scraped(health.get(t)) for t in self.config.scrape_targets()):
                return True
            time.sleep(0.2)
        return False

    def _write_manifest(self) -> None:
        c = self.config
        backend = "postgresql" if self._pg or self._database_url.startswith("postgres") else "sqlite"
        self.manifest_path.write_text(json.dumps({
            "started_at": time.time(), "ha": c.ha, "postgres_dir": str(self._pg.base_dir) if self._pg else None,
            "database_url": backend, "backend": backend, "database": redact_url(self._database_url),
            "targets": list(c.scrape_targets()), "simulator": c.runs_simulator(),
            "external_url": self.catalog.external_url if self.catalog else None,
            "runbook_base_url": self.catalog.settings.runbook_base_url if self.catalog else None,
            "pieces": [asdict(p) for p in self._pieces.values()]}, indent=2))

    def _stop_started(self) -> None:
        for p in reversed(list(self._procs.values())):
            p.stop()
        self._procs.clear()
        self._pieces.clear()
        if self._pg:
            self._pg.stop()
            self._pg = None

    # -- one piece (tests, benchmarks, operators restarting a replica) ----------------------------------
    def pid(self, piece: str) -> int | None:
        return next((p.pid for p in self._recorded() if p.name == piece), None)

    def kill(self, piece: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to one piece's process group (SIGKILL: a crash, nothing flushed)."""
        pid = self.pid(piece)
        if pid is None:
            raise KeyError(f"no running piece {piece!r}")
        os.killpg(pid, sig)
        proc = self._procs.get(piece)
        if proc is not None and proc.popen is not None:
            proc.popen.wait(10)

    def start(self, piece: str) -> None:
        """Start one piece of a stack brought up by this object again (same ports, config and data
        folder), e.g. after `kill`; waits until it is ready and records its new pid."""
        kind, index = self._resolve(piece)
        name = self.piece_name(kind, index)
        if name in self._pieces and _alive(self._pieces[name].pid):
            raise StartupError(f"{name}: still running (pid {self._pieces[name].pid})")
        starters: dict[str, Callable[[int], None]] = {
            "receiver": self._start_receiver, "alertmanager": self._start_alertmanager,
            "prometheus": self._start_prometheus}
        if kind not in starters:
            raise StartupError(f"{name}: only receivers, Alertmanagers and Prometheus can be restarted")
        starters[kind](index)
        self._write_manifest()

    # -- status / down ----------------------------------------------------------------------------------
    def _manifest(self) -> dict[str, Any]:
        return read_manifest(self.state)

    def _recorded(self, manifest: dict[str, Any] | None = None) -> list[_Piece]:
        """The pieces this object started, else those the manifest (`manifest`, or read now) records."""
        if self._pieces:
            return list(self._pieces.values())
        m = self._manifest() if manifest is None else manifest
        return [_Piece.from_manifest(p) for p in recorded_pieces(m)]

    def _any_running(self) -> bool:
        """Whether a process of a recorded stack is still alive (the bot's targets are not the
        stack's: one still up does not mean a stack runs; nothing is asked over HTTP)."""
        return any(_postgres_running(p) if p.kind == "postgres" else _alive(p.pid) for p in self._recorded())

    def status(self) -> list[PieceStatus]:
        recorded = self._recorded()
        scrapes = self._scrape_health(recorded)
        out = []
        for piece in recorded:
            if piece.kind == "postgres":
                running = _postgres_running(piece)
                out.append(PieceStatus(piece.name, piece.url, None, running, running))
                continue
            if piece.kind == "target" or (piece.kind == "exporter" and piece.pid is None):
                out.append(self._target_status(piece, scrapes))
                continue
            running = _alive(piece.pid)
            probe = Probe(False, "not running")
            if running:
                if piece.kind == "alertmanager":
                    probe = probe_alertmanager(piece.url, piece.expected_peers)
                elif piece.kind == "prometheus":
                    probe = probe_prometheus(piece.url)
                elif piece.kind == "receiver":
                    probe = probe_receiver(piece.url)
                else:
                    probe = probe_http(piece.health_url)
                    if scrapes is not None:  # the simulator: also how Prometheus fares scraping it
                        seen = describe_scrape(scrapes.get(_address(piece.url)))
                        probe = Probe(probe.healthy, f"simulator, {probe.detail}; {seen.detail}")
            out.append(PieceStatus(piece.name, piece.url, piece.pid, running, probe.healthy, probe.detail))
        return out

    def _scrape_health(self, recorded: list[_Piece]) -> dict[str, dict[str, Any]] | None:
        """The d75 job's targets as the first Prometheus that answers sees them (None: none answers)."""
        for piece in recorded:
            if piece.kind == "prometheus" and _alive(piece.pid):
                found = probe_targets(piece.url, SCRAPE_JOB)
                if found is not None:
                    return found
        return None

    def _target_status(self, piece: _Piece, scrapes: dict[str, dict[str, Any]] | None) -> PieceStatus:
        """A bot's exporter (not started by the stack): healthy when Prometheus's last scrape of it
        succeeded. With no Prometheus answering, its /metrics is asked directly."""
        if scrapes is not None:
            probe = describe_scrape(scrapes.get(_address(piece.url)))
        else:
            direct = probe_http(piece.health_url)
            probe = Probe(direct.healthy, f"Prometheus not answering; /metrics: {direct.detail}")
        return PieceStatus(piece.name, piece.url, None, probe.healthy, probe.healthy,
                           "the bot (not started by the stack); " + probe.detail)

    def down(self, timeout: float = 10.0) -> list[str]:
        """Stop every piece (this process's children and those recorded by an earlier `up`)."""
        manifest = self._manifest()
        recorded = [p for p in reversed(self._recorded(manifest)) if p.kind != "postgres"]
        stopped = [p.name for p in recorded if _alive(p.pid)]
        self._stop_started()
        for p in recorded:
            _terminate(p.pid, timeout)
        if manifest.get("postgres_dir"):
            PostgresCluster(Path(manifest["postgres_dir"])).stop()
            stopped.append("postgres")
        if self.manifest_path.exists():
            self.manifest_path.unlink()
        return stopped

    def __enter__(self) -> Stack:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- conveniences for the demo, tests and benchmarks ----------------------------------------------
    def scenario(self, name: str, target: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"scenario": name}
        if target:
            body["target"] = target
        r = requests.post(self.url("exporter") + "/scenario", json=body, timeout=10)
        if r.status_code != 200:
            raise RuntimeError(f"simulator refused scenario {name!r}: {r.text}")
        return r.json()

    def api(self, method: str, path: str, receiver: str = "receiver", **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token_from_disk()}"}
        return requests.request(method, self.url(receiver) + path, headers=headers, timeout=10, **kw)

    def token_from_disk(self) -> str:
        if not self.token:
            self.token = read_file(self.state, TOKEN_FILE) or ""
        return self.token

    def logs_of(self, piece: str) -> Path:
        return self.logs / f"{piece}.log"

    def iter_status_lines(self, statuses: list[PieceStatus] | None = None) -> Iterator[str]:
        """Lines for `d76 stack status`: of `statuses` (a `status()` already taken), or probed now."""
        st = self.status() if statuses is None else statuses
        manifest = self._manifest()
        if self.config.ha or manifest.get("ha"):
            n = {kind: sum(1 for s in st if s.name.startswith(kind + "-"))
                 for kind in ("prometheus", "alertmanager", "receiver")}
            yield (f"HA: {n['prometheus']} Prometheus replicas, {n['alertmanager']} clustered "
                   f"Alertmanagers, {n['receiver']} receivers on one database")
        width = max([len(s.name) for s in st] + [12]) + 1
        for s in st:
            state = "healthy" if s.healthy else ("running" if s.running else
                                                 "down" if s.name.startswith("target") else "stopped")
            yield f"{s.name:<{width}} {state:<8} {s.url}  {s.detail}".rstrip()
        database = manifest.get("database")
        if database:
            yield f"{'database':<{width}} {'':<8} {database}"

    def database_url(self) -> str | None:
        """The receiver's DATABASE_URL (password included: it comes from a 0600 file), or None."""
        return read_file(self.state, DATABASE_URL_FILE)

    def notes(self) -> list[str]:
        """What an operator should know once, at start: where links in messages point."""
        m = self._manifest()
        if m.get("external_url"):
            return [f"links: messages link to {m['external_url']} (policy.external_url; runbooks at "
                    f"{m.get('runbook_base_url')})"]
        base = m.get("runbook_base_url") or ""
        if base.startswith(f"http://{vocabulary.HOST}:"):
            return [f"links are local-only: runbook links in messages point at {base} (this machine; a phone "
                    "cannot open them) and messages carry no history links. For links that work on a phone, "
                    "make the receiver reachable at a public URL and set `policy: {external_url: "
                    "https://alerts.example.com}` in the --config override file."]
        return [f"links: runbooks at {base}; no history links in messages (set policy.external_url)"] if base else []


def _address(url: str) -> str:
    """`http://host:port` -> `host:port` (a scrape target's address)."""
    return url.split("://", 1)[-1].rstrip("/")


def _postgres_running(piece: _Piece) -> bool:
    """The throwaway cluster has no pid of ours: its port answering is it running."""
    return port_in_use(int(piece.url.rsplit(":", 1)[1]))


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
