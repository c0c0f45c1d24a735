"""What a local stack is: its shape, its ports, the bot's targets, and the names of its pieces.

`StackConfig` is plain data (what `d76 stack up`'s options and the tests give); its methods only
compute: which ports a kind of piece has, what a piece is called (`prometheus` in the single shape,
`prometheus-a`, `prometheus-b`, ... in the HA shape) and where it answers. Nothing here starts,
writes or asks anything.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import vocabulary
from catalog import deploy_configs
from catalog.deploy_configs import replica_name

from . import defaults
from .processes import free_port

__all__ = ["StackConfig", "KINDS"]

# every kind of piece, in the order the runner starts them (etcd and PostgreSQL first, Prometheus last)
KINDS = ("etcd", "postgres", "exporter", "receiver", "alertmanager", "prometheus")


@dataclass
class StackConfig:
    state_dir: Path = defaults.DEFAULT_STATE_DIR
    exporter_port: int = vocabulary.EXPORTER_PORT
    prometheus_port: int = vocabulary.PROMETHEUS_PORT        # single, or replica a
    alertmanager_port: int = vocabulary.ALERTMANAGER_PORT    # single, or replica a
    receiver_port: int = vocabulary.RECEIVER_PORT            # single, or replica a
    postgres_port: int = vocabulary.POSTGRES_PORT
    catalog_override: Path | None = None
    database_url: str | None = None       # default: SQLite in the state folder (HA: a Patroni cluster)
    postgres: bool = False                # start a throwaway PostgreSQL cluster in the state folder (single shape)
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
    # the HA shape's PostgreSQL (a Patroni cluster, unless database_url): member a on postgres_port
    ha_postgres_ports: tuple[int, ...] = vocabulary.HA_POSTGRES_PORTS[1:]
    patroni_ports: tuple[int, ...] = vocabulary.PATRONI_API_PORTS   # one REST API per member
    etcd_ports: tuple[int, ...] = vocabulary.ETCD_PORTS              # client, peer

    def prometheus_ports(self) -> tuple[int, ...]:
        return (self.prometheus_port, *self.ha_prometheus_ports) if self.ha else (self.prometheus_port,)

    def alertmanager_ports(self) -> tuple[int, ...]:
        return (self.alertmanager_port, *self.ha_alertmanager_ports) if self.ha else (self.alertmanager_port,)

    def receiver_ports(self) -> tuple[int, ...]:
        return (self.receiver_port, *self.ha_receiver_ports) if self.ha else (self.receiver_port,)

    def uses_patroni(self) -> bool:
        """The HA shape's own PostgreSQL: a Patroni cluster (primary + streaming replica, etcd)."""
        return self.ha and not self.database_url

    def uses_postgres_cluster(self) -> bool:
        """The single shape's throwaway PostgreSQL (`--postgres`)."""
        return self.postgres and not self.ha

    def postgres_ports(self) -> tuple[int, ...]:
        return (self.postgres_port, *self.ha_postgres_ports) if self.uses_patroni() else (self.postgres_port,)

    def runs_simulator(self) -> bool:
        return self.simulator and not self.targets

    def scrape_targets(self) -> tuple[str, ...]:
        """What Prometheus scrapes as job d75: the given targets, else the simulator (or, without
        it, the bot's exporter) on exporter_port."""
        return tuple(self.targets) or (f"{vocabulary.HOST}:{self.exporter_port}",)

    # -- pieces: names, ports, URLs --------------------------------------------------------------------
    def ports(self, kind: str) -> tuple[int, ...]:
        """The ports of one kind of piece, in replica order."""
        return {"exporter": (self.exporter_port,), "prometheus": self.prometheus_ports(),
                "alertmanager": self.alertmanager_ports(), "receiver": self.receiver_ports(),
                "postgres": self.postgres_ports(), "etcd": tuple(self.etcd_ports[:1])}[kind]

    def piece_name(self, kind: str, index: int = 0) -> str:
        """`prometheus` in the single shape; `prometheus-a`, `prometheus-b`, ... in the HA shape
        (PostgreSQL: `postgres-a`, ... when it is the HA shape's Patroni cluster)."""
        if kind in ("exporter", "etcd") or not self.ha or (kind == "postgres" and not self.uses_patroni()):
            return kind
        return f"{kind}-{replica_name(index)}"

    def names(self, kind: str) -> list[str]:
        """The pieces of one kind, in replica order."""
        return [self.piece_name(kind, i) for i in range(len(self.ports(kind)))]

    def resolve(self, piece: str) -> tuple[str, int]:
        """`alertmanager-b` -> ("alertmanager", 1); a bare kind is replica 0. KeyError: no such kind."""
        kind, _, suffix = piece.partition("-")
        if kind not in KINDS:
            raise KeyError(f"unknown piece {piece!r}")
        index = vocabulary.REPLICA_NAMES.index(suffix) if suffix else 0
        return kind, index

    def url(self, piece: str, recorded: Mapping[str, str] | None = None) -> str:
        """Base URL of a piece; a bare kind (`prometheus`) is the first replica. `recorded` (piece
        name -> URL, from a manifest) wins over the configured port."""
        kind, index = self.resolve(piece)
        for candidate in (piece, f"{kind}-{replica_name(index)}"):
            if recorded and candidate in recorded:
                return recorded[candidate]
        port = self.ports(kind)[index]
        return f"postgresql://127.0.0.1:{port}" if kind == "postgres" else f"http://{vocabulary.HOST}:{port}"

    @classmethod
    def with_free_ports(cls, state_dir: Path, *, ha: bool = False, **kw: Any) -> StackConfig:
        """Every port picked free right now (tests, benchmarks, `d76 demo --free-ports`)."""
        base = cls(state_dir=state_dir, ha=ha, **kw)
        n_prom, n_am, n_rcv = (len(base.prometheus_ports()), len(base.alertmanager_ports()),
                               len(base.receiver_ports()))

        taken: set[int] = set()

        def one() -> int:
            # the kernel may hand the same free port out twice in a row (each probe socket is closed at
            # once), and two pieces given one port fail the stack's own check: draw until distinct
            while (port := free_port()) in taken:
                pass
            taken.add(port)
            return port

        def free(n: int) -> tuple[int, ...]:
            return tuple(one() for _ in range(n))

        n_pg = len(base.ha_postgres_ports) + 1
        return replace(base, exporter_port=one(), prometheus_port=one(),
                       alertmanager_port=one(), receiver_port=one(), postgres_port=one(),
                       ha_prometheus_ports=free(n_prom - 1) if ha else base.ha_prometheus_ports,
                       ha_alertmanager_ports=free(n_am - 1) if ha else base.ha_alertmanager_ports,
                       ha_receiver_ports=free(n_rcv - 1) if ha else base.ha_receiver_ports,
                       cluster_ports=free(n_am) if ha else base.cluster_ports,
                       ha_postgres_ports=free(n_pg - 1) if ha else base.ha_postgres_ports,
                       patroni_ports=free(n_pg) if ha else base.patroni_ports,
                       etcd_ports=free(2) if ha else base.etcd_ports)
