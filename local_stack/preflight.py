"""What `Stack.up()` refuses before anything starts: a bad target, a missing cluster port, SQLite
for the HA receivers, a Patroni cluster without a replica or its ports, a port given twice or
already taken, a state folder PostgreSQL cannot reach.

Each refusal is a `StartupError` whose message starts with the piece it is about and, for a taken
port, names the option that moves it.
"""
from __future__ import annotations

import os
from pathlib import Path

from catalog.deploy_configs import parse_target

from .config import StackConfig
from .processes import StartupError, port_in_use

__all__ = ["check_config", "check_ports", "check_postgres_reachable"]


def check_config(config: StackConfig) -> None:
    """Targets parsed (and normalised in `config.targets`), none twice; the HA shape complete."""
    c = config
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
                           "give a postgresql:// --database-url or none (a Patroni cluster is started)")
    if c.uses_patroni():
        members = len(c.postgres_ports())
        if members < 2:
            raise StartupError("postgres: the Patroni cluster needs a replica; give it a port with --ha-postgres-ports")
        if len(c.patroni_ports) != members:
            raise StartupError(f"postgres: {members} PostgreSQL members need as many Patroni REST API ports "
                               f"(--patroni-ports), got {len(c.patroni_ports)}")
        if len(c.etcd_ports) != 2:
            raise StartupError(f"etcd: give two ports, client and peer (--etcd-ports), got {len(c.etcd_ports)}")


def check_ports(config: StackConfig) -> None:
    """Every port this stack would bind is given once and free right now."""
    c = config
    wanted: list[tuple[str, int]] = []
    if c.runs_simulator():
        wanted.append(("exporter", c.exporter_port))
    for kind in ("receiver", "alertmanager", "prometheus"):
        wanted += list(zip(c.names(kind), c.ports(kind)))
    if c.ha:
        wanted += [(f"{n} (cluster)", p) for n, p in zip(c.names("alertmanager"), c.cluster_ports)]
    if c.uses_postgres_cluster():
        wanted.append(("postgres", c.postgres_port))
    if c.uses_patroni():
        wanted += list(zip(c.names("postgres"), c.postgres_ports()))
        wanted += [(f"{n} (patroni)", p) for n, p in zip(c.names("postgres"), c.patroni_ports)]
        wanted += list(zip(("etcd", "etcd (peer)"), c.etcd_ports))
    seen: dict[int, str] = {}
    for piece, port in wanted:
        if port in seen:
            raise StartupError(f"{piece}: port {port} is also given to {seen[port]}")
        seen[port] = piece
        if port_in_use(port):
            kind, _, replica = piece.split(" ")[0].partition("-")
            option = ("--cluster-ports" if piece.endswith("(cluster)") else
                      "--patroni-ports" if piece.endswith("(patroni)") else "--etcd-ports" if kind == "etcd" else
                      f"--ha-{kind}-ports" if replica not in ("", "a") else f"--{kind}-port")
            raise StartupError(f"{piece}: port 127.0.0.1:{port} is already in use "
                               f"(another stack? try `d76 stack down` or {option})")


def check_postgres_reachable(state: Path) -> None:
    """The server runs as the `postgres` user (initdb refuses root): every folder above its data
    must be traversable by others, or initdb fails with a bare "Permission denied"."""
    state.chmod(0o755)
    if os.geteuid() != 0:
        return
    for parent in state.parents:
        if not os.stat(parent).st_mode & 0o001:
            raise StartupError(
                f"postgres: the state folder {state} is not reachable by the postgres user "
                f"({parent} is mode {oct(os.stat(parent).st_mode & 0o777)}); choose a --state-dir "
                "under a world-traversable folder, e.g. the repository's .d76/")
