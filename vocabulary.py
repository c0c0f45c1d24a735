"""The words every package of the project shares, written once.

The bot's library (`exporter`), the catalog and its generators (`catalog`), the receiver
(`webhook_receiver`), the local stack and the command line all speak about the same severities,
sources and labels, and find each other on the same default ports. They import them from here, so a
new severity, source or port is one edit.

Pure constants and enums: importing this module costs nothing and imports nothing of the project.
"""
from __future__ import annotations

from enum import StrEnum

__all__ = [
    "SEVERITIES", "severity_rank", "SOURCES", "PIPELINE_SOURCE", "IDENTIFYING_LABELS", "PLUMBING_LABELS",
    "WATCHDOG", "WATCHDOG_SEVERITY", "HOST", "EXPORTER_PORT", "PROMETHEUS_PORT", "ALERTMANAGER_PORT",
    "RECEIVER_PORT", "GRAFANA_PORT", "POSTGRES_PORT", "HA_PROMETHEUS_PORTS", "HA_ALERTMANAGER_PORTS",
    "HA_ALERTMANAGER_CLUSTER_PORTS", "HA_RECEIVER_PORTS", "HA_REPLICA_LABEL", "REPLICA_NAMES",
    "HA_POSTGRES_PORTS", "PATRONI_API_PORTS", "ETCD_PORTS",
    "DEFAULT_ALERTMANAGER_URL", "DEFAULT_RECEIVER_URL", "DEFAULT_PROMETHEUS_URL", "DEFAULT_RUNBOOK_BASE_URL",
    "NotificationKind", "NotificationStatus", "MessageShape", "Severity", "AlertStatus",
]

# P0 critical (page now) .. P3 low (the daily email digest). Order matters: most severe first.
SEVERITIES: tuple[str, ...] = ("P0", "P1", "P2", "P3")


class Severity(StrEnum):
    """The severities by name, for code that means one of them (`Severity.P0` pages first)."""

    P0 = SEVERITIES[0]
    P1 = SEVERITIES[1]
    P2 = SEVERITIES[2]
    P3 = SEVERITIES[3]


def severity_rank(severity: str | None) -> int:
    """P0 -> 0 ... P3 -> 3; anything else (Watchdog's "none", a missing label) sorts last."""
    try:
        return SEVERITIES.index(severity or "")
    except ValueError:
        return len(SEVERITIES)


# alerts about the alerting pipeline itself (receiver, Alertmanager, Prometheus, outbox); Alertmanager
# also sends them by a road that does not pass through the receiver (its own Telegram integration)
PIPELINE_SOURCE = "pipeline"
# The D75 component (or part of the host, or the alerting pipeline) an alert is about: the `source`
# label of every alert.
SOURCES: tuple[str, ...] = ("rate_limiter", "exchange_health", "arb_route", "arb_universe", "cross_sync",
                            "risk_guard", "system", PIPELINE_SOURCE)

# Labels that say WHAT is on fire (an exchange, a route, a symbol, a guard's tier and scope, one of
# the bot's own services); an alert is named by these in messages, silences made from an alert match these.
IDENTIFYING_LABELS: tuple[str, ...] = ("exchange", "route", "symbol", "tier", "scope", "service")
# Labels that say where a series was scraped, not what is on fire.
PLUMBING_LABELS = frozenset({"instance", "job", "replica", "prometheus", "monitor", "endpoint", "namespace", "pod"})

# The always-firing alert that proves Prometheus -> Alertmanager -> receiver works.
WATCHDOG = "Watchdog"
WATCHDOG_SEVERITY = "none"

# Default loopback ports of the stack (`d76 stack up`, the generated configs, the command line).
HOST = "127.0.0.1"
EXPORTER_PORT = 9876       # d76 simulate / the bot's exporter, scraped as job="d75"
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
RECEIVER_PORT = 9099       # webhook_receiver (Flask under waitress)
GRAFANA_PORT = 3000
POSTGRES_PORT = 55432      # the throwaway cluster of `d76 stack up --postgres`; with `--ha` Patroni member a

# `d76 stack up --ha` and the compose `ha` profile: replica a keeps the single-stack ports, the
# others follow. Gossip ports avoid 9094, Alertmanager's default cluster port (a system
# Alertmanager may hold it).
HA_PROMETHEUS_PORTS = (PROMETHEUS_PORT, 9190)
HA_ALERTMANAGER_PORTS = (ALERTMANAGER_PORT, 9193, 9293)
HA_ALERTMANAGER_CLUSTER_PORTS = (9794, 9795, 9796)
HA_RECEIVER_PORTS = (RECEIVER_PORT, 9199)
# PostgreSQL in the HA shape: a Patroni cluster (members a, b), its state in one etcd. Not Patroni's
# 8008 nor etcd's 2379/2380 (a system Patroni or etcd may hold them).
HA_POSTGRES_PORTS = (POSTGRES_PORT, 55433)
PATRONI_API_PORTS = (8108, 8109)      # each member's Patroni REST API
ETCD_PORTS = (2479, 2480)             # client, peer
HA_REPLICA_LABEL = "replica"          # Prometheus external label, dropped from alerts
REPLICA_NAMES = "abcdefgh"

DEFAULT_ALERTMANAGER_URL = f"http://{HOST}:{ALERTMANAGER_PORT}"
DEFAULT_RECEIVER_URL = f"http://{HOST}:{RECEIVER_PORT}"
DEFAULT_PROMETHEUS_URL = f"http://{HOST}:{PROMETHEUS_PORT}"
DEFAULT_RUNBOOK_BASE_URL = f"{DEFAULT_RECEIVER_URL}/runbooks/"


class NotificationKind(StrEnum):
    """What one outbox row tells one destination."""

    FIRING = "firing"
    RESOLVED = "resolved"
    ACK = "ack"             # an acknowledgement: edit the messages that told the alert
    REFRESH = "refresh"     # re-render a message later (after a packed resolve)
    DEADMAN = "deadman"     # the Watchdog stopped arriving
    DIGEST = "digest"       # the daily email
    SUMMARY = "summary"
    REPLY = "reply"         # the answer to an operator's command
    GRAPH = "graph"         # the PNG that follows a page
    REMINDER = "reminder"   # an unacknowledged alert paged again (a new, loud message replying to the page)
    ESCALATION = "escalation"  # an escalation step: the alert told to someone else (mentions, another channel)


class NotificationStatus(StrEnum):
    """Where an outbox row is: pending -> sending -> sent / folded / failed (graphs start rendering)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    FOLDED = "folded"       # told within another message (a packed message's tail, a later render)
    RENDERING = "rendering"  # a graph row until its PNG is ready: invisible to the lanes


class MessageShape(StrEnum):
    """What one sent message was."""

    SINGLE = "single"       # one alert in full
    PACKED = "packed"       # several alerts, one line each
    DEADMAN = "deadman"
    DIGEST = "digest"
    REPLY = "reply"         # the answer to an operator's command
    PHOTO = "photo"         # a graph, as a reply to its page
    # counted by d76_notifications_messages_total, never stored as a message's shape:
    PART = "part"           # a later part of a message too long for one
    EDIT = "edit"           # a sent message edited (acknowledged, resolved, refreshed)


class AlertStatus(StrEnum):
    """An alert's status, as Alertmanager says it."""

    FIRING = "firing"
    RESOLVED = "resolved"
