"""`d76 stack up|status|down|logs`: the whole pipeline on loopback without Docker."""
from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import click

import vocabulary
from catalog import deploy_configs
from local_stack import defaults

__all__ = ["command"]

_state_opt = click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
                          default=defaults.DEFAULT_STATE_DIR, show_default=True,
                          help="Rendered configs, data, logs and pids live here.")


@click.group(name="stack")
def command() -> None:
    """Start, inspect and stop the local stack (simulator, Prometheus, Alertmanager, receiver)."""


def _ports(text: str) -> tuple[int, ...]:
    try:
        ports = tuple(int(p) for p in text.replace(" ", "").split(",") if p)
    except ValueError:
        raise click.BadParameter(f"{text!r}: give comma-separated port numbers") from None
    if not ports or any(not 0 < p < 65536 for p in ports):
        raise click.BadParameter(f"{text!r}: give comma-separated port numbers")
    return ports


def _targets(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    from catalog.deploy_configs import parse_target

    try:
        return tuple(parse_target(v) for v in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _ports_option(name: str, default: tuple[int, ...], text: str) -> Callable[[Callable], Callable]:
    return click.option(name, default=",".join(map(str, default)), show_default=True, help=text,
                        callback=lambda ctx, param, value: _ports(value))


@command.command("up")
@_state_opt
@click.option("--exporter-port", type=int, default=vocabulary.EXPORTER_PORT, show_default=True)
@click.option("--prometheus-port", type=int, default=vocabulary.PROMETHEUS_PORT, show_default=True,
              help="Prometheus (with --ha: replica a).")
@click.option("--alertmanager-port", type=int, default=vocabulary.ALERTMANAGER_PORT, show_default=True,
              help="Alertmanager (with --ha: replica a).")
@click.option("--receiver-port", type=int, default=vocabulary.RECEIVER_PORT, show_default=True,
              help="Receiver (with --ha: replica a).")
@click.option("--postgres-port", type=int, default=vocabulary.POSTGRES_PORT, show_default=True,
              help="The throwaway PostgreSQL (with --ha: Patroni member postgres-a).")
@click.option("--config", "catalog_override", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Catalog override file (thresholds, for, severities, policy).")
@click.option("--database-url", envvar="DATABASE_URL", default=None,
              help="Receiver storage (default: an SQLite file in the state folder; with --ha a Patroni "
                   "cluster). A libpq multi-host URL with target_session_attrs=read-write follows a failover.")
@click.option("--postgres", is_flag=True, help="Start a throwaway PostgreSQL 15 cluster for the receiver "
                                               "(with --ha: the Patroni cluster, as without it).")
@click.option("--scenario", default="calm", show_default=True, help="The simulator's first scenario.")
@click.option("--target", "targets", multiple=True, metavar="HOST:PORT", callback=_targets,
              help="Scrape the real bot's exporter at HOST:PORT (repeatable) instead of starting the simulator.")
@click.option("--no-simulator", is_flag=True,
              help="Scrape the bot's own exporter on 127.0.0.1:--exporter-port instead of starting the simulator "
                   "(the same as --target 127.0.0.1:PORT).")
@click.option("--resend-delay", default=deploy_configs.PROMETHEUS_RESEND_DELAY, show_default=True,
              help="Prometheus --rules.alert.resend-delay (docs/architecture.md, Timing).")
@click.option("--ha", is_flag=True, help="Two Prometheus replicas, three clustered Alertmanagers, two receivers "
                                         "on one PostgreSQL that fails over (Patroni: a primary and a "
                                         "synchronous replica, etcd; docs/ha.md).")
@_ports_option("--ha-prometheus-ports", vocabulary.HA_PROMETHEUS_PORTS[1:], "With --ha: the other Prometheus replicas.")
@_ports_option("--ha-alertmanager-ports", vocabulary.HA_ALERTMANAGER_PORTS[1:],
               "With --ha: the other Alertmanagers.")
@_ports_option("--ha-receiver-ports", vocabulary.HA_RECEIVER_PORTS[1:], "With --ha: the other receivers.")
@_ports_option("--cluster-ports", vocabulary.HA_ALERTMANAGER_CLUSTER_PORTS,
               "With --ha: each Alertmanager's gossip port (TCP and UDP), one per Alertmanager.")
@click.option("--peer-timeout", default=deploy_configs.ALERTMANAGER_PEER_TIMEOUT, show_default=True,
              help="With --ha: Alertmanager --cluster.peer-timeout.")
@_ports_option("--ha-postgres-ports", vocabulary.HA_POSTGRES_PORTS[1:],
               "With --ha: the other PostgreSQL members of the Patroni cluster (postgres-b, ...).")
@_ports_option("--patroni-ports", vocabulary.PATRONI_API_PORTS,
               "With --ha: each PostgreSQL member's Patroni REST API, one per member.")
@_ports_option("--etcd-ports", vocabulary.ETCD_PORTS, "With --ha: etcd's client and peer ports (Patroni's state).")
@click.option("--foreground", is_flag=True, help="Stay attached; Ctrl-C stops everything.")
def up(state_dir: Path, exporter_port: int, prometheus_port: int, alertmanager_port: int, receiver_port: int,
       postgres_port: int, catalog_override: Path | None, database_url: str | None, postgres: bool,
       scenario: str, targets: tuple[str, ...], no_simulator: bool, resend_delay: str, ha: bool,
       ha_prometheus_ports: tuple[int, ...],
       ha_alertmanager_ports: tuple[int, ...], ha_receiver_ports: tuple[int, ...], cluster_ports: tuple[int, ...],
       peer_timeout: str, ha_postgres_ports: tuple[int, ...], patroni_ports: tuple[int, ...],
       etcd_ports: tuple[int, ...], foreground: bool) -> None:
    """Start every piece, each with a readiness wait (Prometheus: until it sends to every
    Alertmanager); print each piece's health and where to look (the pages, the token file)."""
    from catalog import CatalogError
    from local_stack.runner import Stack, StackConfig, StartupError

    cfg = StackConfig(state_dir=state_dir, exporter_port=exporter_port, prometheus_port=prometheus_port,
                      alertmanager_port=alertmanager_port, receiver_port=receiver_port,
                      postgres_port=postgres_port, catalog_override=catalog_override,
                      database_url=None if postgres else database_url, postgres=postgres, scenario=scenario,
                      simulator=not no_simulator, targets=targets, resend_delay=resend_delay, ha=ha,
                      ha_prometheus_ports=ha_prometheus_ports, ha_alertmanager_ports=ha_alertmanager_ports,
                      ha_receiver_ports=ha_receiver_ports, cluster_ports=cluster_ports, peer_timeout=peer_timeout,
                      ha_postgres_ports=ha_postgres_ports, patroni_ports=patroni_ports, etcd_ports=etcd_ports)
    stack = Stack(cfg)
    try:
        stack.up()
    except (StartupError, CatalogError) as exc:
        click.echo(f"stack up failed: {exc}", err=True)
        sys.exit(1)
    if not cfg.runs_simulator():  # the real bot: say at once whether Prometheus can scrape it
        stack.wait_first_scrape()
    for line in stack.iter_status_lines():
        click.echo(line)
    for line in stack.look_lines():
        click.echo(line)
    for note in stack.notes():
        click.echo(note)
    click.echo(f"logs: {stack.logs}")
    if not foreground:
        click.echo(
            "stop with: d76 stack down"
            + ("" if state_dir == defaults.DEFAULT_STATE_DIR else f" --state-dir {state_dir}")
        )
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    click.echo("running in the foreground; Ctrl-C stops the stack")
    stop.wait()
    click.echo("stopped: " + ", ".join(stack.down()))


@command.command("status")
@_state_opt
def status(state_dir: Path) -> None:
    """Each piece with its URL and health (Alertmanager cluster peers, the Alertmanagers each
    Prometheus replica sends to, receiver storage), each scrape target as Prometheus sees it (up or
    down, last error, last scrape), the database, and where to look (the pages and the token file);
    exit 1 when something is down (a Prometheus sending to no Alertmanager counts)."""
    from local_stack.runner import Stack, StackConfig

    stack = Stack(StackConfig(state_dir=state_dir))
    st = stack.status()
    if not st:
        click.echo(f"no stack recorded in {state_dir}")
        sys.exit(1)
    for line in stack.iter_status_lines(st):
        click.echo(line)
    for line in stack.look_lines():
        click.echo(line)
    sys.exit(0 if all(s.healthy for s in st) else 1)


@command.command("down")
@_state_opt
def down(state_dir: Path) -> None:
    """Stop every piece started by `d76 stack up`."""
    from local_stack.runner import Stack, StackConfig

    stopped = Stack(StackConfig(state_dir=state_dir)).down()
    click.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@command.command("logs")
@_state_opt
@click.argument("piece")
@click.option("-n", "--lines", type=int, default=40, show_default=True)
def logs(state_dir: Path, piece: str, lines: int) -> None:
    """Print the last lines of a piece's log (exporter, receiver, alertmanager, prometheus; with --ha
    e.g. receiver-b, alertmanager-c, prometheus-a, postgres-a, etcd)."""
    path = state_dir / "logs" / f"{piece}.log"
    if not path.exists():
        known = sorted(p.stem for p in (state_dir / "logs").glob("*.log"))
        click.echo(f"no log at {path}" + (f"; logs: {', '.join(known)}" if known else ""), err=True)
        sys.exit(1)
    click.echo("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
