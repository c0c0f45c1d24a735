"""prometheus.yml and alertmanager.yml for each way the stack is deployed.

The catalog renders parameterised configs (`catalog.render_prometheus_config`,
`render_alertmanager_config`) and knows nothing of ports or hosts. This module knows where the
pieces listen: on loopback for the native runner, by service name for docker-compose, and in the
HA shape (two Prometheus replicas, three clustered Alertmanagers, two receivers on one database).

`render_deploy_configs` is one of the catalog's generators (`catalog.generate.GENERATORS`);
`d76 generate` writes its files and `d76 generate --check` checks them. The native runner renders
the same topology with the ports it was given into its state folder.
"""
from __future__ import annotations

from dataclasses import dataclass

import vocabulary

from .model import Catalog
from .render_alertmanager import (
    TOKEN_FILE_COMPOSE,
    TOKEN_FILE_LOCAL,
    NativeRoad,
    NativeTelegram,
    render_alertmanager_config,
)
from .render_prometheus import render_prometheus_config

__all__ = ["Topology", "local_topology", "COMPOSE_SINGLE", "COMPOSE_HA", "prometheus_config",
           "alertmanager_config", "render_deploy_configs", "replica_name", "COMPOSE_TARGETS_FILE",
           "parse_target", "PROMETHEUS_RESEND_DELAY", "ALERTMANAGER_PEER_TIMEOUT",
           "ALERTMANAGER_SEND_TIMEOUT", "COMPOSE_TELEGRAM_PLACEHOLDERS", "COMPOSE_NATIVE_ROAD"]

# Prometheus `--rules.alert.resend-delay` (default 1m). A cold start (or a restart while an alert
# holds) loses the first send (Prometheus marks it sent before it has discovered Alertmanager,
# prometheus/prometheus#10457), so this is how long a page can wait. It also sets the `endsAt`
# Prometheus stamps on firing alerts: 4 x max(this, evaluation interval). docs/architecture.md
# "Timing" has the measurements behind the value.
PROMETHEUS_RESEND_DELAY = "5s"
# Alertmanager `--cluster.peer-timeout` (default 15s): member N of the cluster waits N x this for
# the members before it to have notified. Receivers deduplicate, so a short wait costs nothing but
# a duplicate post when gossip is slow; on loopback it is milliseconds.
ALERTMANAGER_PEER_TIMEOUT = "2s"
# Prometheus -> Alertmanager post timeout with several Alertmanagers (prometheus.yml
# `alerting.alertmanagers[].timeout`, default 10s). Prometheus posts each batch to every
# Alertmanager and waits for all of them, so one that hangs (a partition, SIGSTOP) delays the pages
# going through the others by up to this much. Alertmanager answers in milliseconds on loopback.
ALERTMANAGER_SEND_TIMEOUT = "2s"

RULE_FILES = ["rules/*.yml"]
# docker-compose: the `*-telegram.yml` Alertmanager configs carry the native road with these
# placeholders; the Alertmanager services' entrypoint replaces them from TELEGRAM_BOT_TOKEN,
# TELEGRAM_CHAT_ID and TELEGRAM_API_URL (Alertmanager 0.25 reads the token only from its config),
# or starts the config without the road when no bot is set
COMPOSE_TELEGRAM_PLACEHOLDERS = {"bot_token": "__TELEGRAM_BOT_TOKEN__", "chat_id": "__TELEGRAM_CHAT_ID__",
                                 "api_url": "__TELEGRAM_API_URL__"}
COMPOSE_NATIVE_ROAD = NativeRoad(telegram=NativeTelegram(**COMPOSE_TELEGRAM_PLACEHOLDERS))
# docker-compose: the bot's scrape targets, written from D75_TARGETS by the Prometheus services'
# entrypoint (docker-compose.yml) and read through file_sd, so one generated config serves any bot
COMPOSE_TARGETS_FILE = "/etc/prometheus/targets/d75.yml"


def parse_target(text: str) -> str:
    """`host:port` of a bot's /metrics (`[v6addr]:port` for IPv6); ValueError naming the problem."""
    value = text.strip()
    host, sep, port = value.rpartition(":")
    if "://" in value or "/" in value:
        raise ValueError(f"{text!r}: give HOST:PORT (e.g. {vocabulary.HOST}:{vocabulary.EXPORTER_PORT}), not a URL; "
                         "Prometheus scrapes http://HOST:PORT/metrics")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: expected HOST:PORT with a port between 1 and 65535")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not bare or any(c.isspace() or c in "'\"[]{},#" for c in bare) or (":" in bare and bare == host):
        raise ValueError(f"{text!r}: not a host name or address (IPv6: [::1]:{vocabulary.EXPORTER_PORT})")
    return f"{host}:{int(port)}"


def replica_name(index: int) -> str:
    """Replica 0 is "a", 1 is "b", ...: the `replica` external label and the pieces' suffix."""
    return vocabulary.REPLICA_NAMES[index]


@dataclass(frozen=True)
class Topology:
    """Where each piece of one deployment listens, as `host:port` seen from the other pieces.

    More than one Prometheus makes them replicas: each gets `external_labels: {replica: a|b}` and
    drops that label from the alerts it sends, so Alertmanager sees one alert, not two.
    """

    exporters: tuple[str, ...]      # the bot(s) scraped as job d75 (ignored with exporter_file_sd)
    prometheus: tuple[str, ...]
    alertmanagers: tuple[str, ...]
    receivers: tuple[str, ...]
    token_file: str
    self_scrape: tuple[str, ...] | None = None  # how Prometheus scrapes itself (default: `prometheus`)
    exporter_file_sd: str | None = None          # read the bot's targets from this file instead

    @property
    def replicated(self) -> bool:
        return len(self.prometheus) > 1


def local_topology(*, exporter_port: int = vocabulary.EXPORTER_PORT,
                   prometheus_ports: tuple[int, ...] = (vocabulary.PROMETHEUS_PORT,),
                   alertmanager_ports: tuple[int, ...] = (vocabulary.ALERTMANAGER_PORT,),
                   receiver_ports: tuple[int, ...] = (vocabulary.RECEIVER_PORT,),
                   targets: tuple[str, ...] = ()) -> Topology:
    """Everything on loopback; `targets` (`host:port`, the real bot's exporters) replace the
    simulator on `exporter_port`."""
    h = vocabulary.HOST
    return Topology(exporters=tuple(targets) or (f"{h}:{exporter_port}",),
                    prometheus=tuple(f"{h}:{p}" for p in prometheus_ports),
                    alertmanagers=tuple(f"{h}:{p}" for p in alertmanager_ports),
                    receivers=tuple(f"{h}:{p}" for p in receiver_ports),
                    token_file=TOKEN_FILE_LOCAL)


# docker-compose.yml: containers listen on the servers' own default ports; service names are hosts.
# The bot's targets come from D75_TARGETS through COMPOSE_TARGETS_FILE (default: the simulator,
# `exporter:9876`); `exporters` records that default.
COMPOSE_SINGLE = Topology(
    exporters=(f"exporter:{vocabulary.EXPORTER_PORT}",),
    prometheus=(f"prometheus:{vocabulary.PROMETHEUS_PORT}",),
    alertmanagers=(f"alertmanager:{vocabulary.ALERTMANAGER_PORT}",),
    receivers=(f"receiver:{vocabulary.RECEIVER_PORT}",),
    token_file=TOKEN_FILE_COMPOSE, self_scrape=(f"localhost:{vocabulary.PROMETHEUS_PORT}",),
    exporter_file_sd=COMPOSE_TARGETS_FILE)
COMPOSE_HA = Topology(
    exporters=(f"exporter:{vocabulary.EXPORTER_PORT}",), exporter_file_sd=COMPOSE_TARGETS_FILE,
    prometheus=tuple(f"prometheus-{replica_name(i)}:{vocabulary.PROMETHEUS_PORT}"
                     for i in range(len(vocabulary.HA_PROMETHEUS_PORTS))),
    alertmanagers=tuple(f"alertmanager-{replica_name(i)}:{vocabulary.ALERTMANAGER_PORT}"
                        for i in range(len(vocabulary.HA_ALERTMANAGER_PORTS))),
    receivers=tuple(f"receiver-{replica_name(i)}:{vocabulary.RECEIVER_PORT}"
                    for i in range(len(vocabulary.HA_RECEIVER_PORTS))),
    token_file=TOKEN_FILE_COMPOSE)


def prometheus_config(catalog: Catalog, topo: Topology, replica: int = 0) -> str:
    """prometheus.yml of Prometheus number `replica`: every Alertmanager of the topology (with a
    short send timeout when there are several, so a hung one holds the others up briefly), and in
    a replicated topology the `replica` external label, dropped again from the alerts it sends."""
    labels = {vocabulary.HA_REPLICA_LABEL: replica_name(replica)} if topo.replicated else None
    return render_prometheus_config(
        catalog, exporter_target=list(topo.exporters), exporter_file_sd=topo.exporter_file_sd,
        alertmanager_target=list(topo.alertmanagers),
        rule_files=RULE_FILES, receiver_target=list(topo.receivers),
        self_target=list(topo.self_scrape or topo.prometheus), external_labels=labels,
        drop_alert_labels=[vocabulary.HA_REPLICA_LABEL] if topo.replicated else (),
        alertmanager_timeout=ALERTMANAGER_SEND_TIMEOUT if len(topo.alertmanagers) > 1 else None)


def alertmanager_config(catalog: Catalog, topo: Topology, native: NativeRoad | None = None) -> str:
    """alertmanager.yml shared by every Alertmanager of the topology: each posts to every receiver;
    `native`: the pipeline's alerts also go through Alertmanager's own Telegram/email."""
    return render_alertmanager_config(catalog, receiver_url=[f"http://{r}" for r in topo.receivers],
                                      bearer_token_file=topo.token_file, native=native)


def render_deploy_configs(catalog: Catalog) -> dict[str, str]:
    """The committed variants (repo-relative path -> text): the native single stack on the default
    ports (for running Prometheus/Alertmanager by hand), and docker-compose's single and `ha` shapes,
    each of those also with the native road's placeholders (`*-telegram.yml`)."""
    local = local_topology()
    files = {
        "prometheus/prometheus.yml": prometheus_config(catalog, local),
        "prometheus/prometheus.compose.yml": prometheus_config(catalog, COMPOSE_SINGLE),
        "alertmanager/alertmanager.yml": alertmanager_config(catalog, local),
        "alertmanager/alertmanager.compose.yml": alertmanager_config(catalog, COMPOSE_SINGLE),
        "alertmanager/alertmanager.compose-ha.yml": alertmanager_config(catalog, COMPOSE_HA),
        # with the native road, placeholders filled by the entrypoint when a Telegram bot is set
        "alertmanager/alertmanager.compose-telegram.yml": alertmanager_config(catalog, COMPOSE_SINGLE,
                                                                              COMPOSE_NATIVE_ROAD),
        "alertmanager/alertmanager.compose-ha-telegram.yml": alertmanager_config(catalog, COMPOSE_HA,
                                                                                 COMPOSE_NATIVE_ROAD),
    }
    for i in range(len(COMPOSE_HA.prometheus)):
        files[f"prometheus/prometheus.compose-ha-{replica_name(i)}.yml"] = prometheus_config(catalog, COMPOSE_HA, i)
    return files
