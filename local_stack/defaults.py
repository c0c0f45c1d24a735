"""Default loopback ports, names and timings of the stack.

One place, read by the deploy-config generator (`local_stack.deploy_configs`: prometheus.yml
targets, the compose variants), the native stack runner, the demo and the docker-compose check, so
that every piece agrees on where the others listen.
"""
from __future__ import annotations

from pathlib import Path

HOST = "127.0.0.1"

# The state folder of `d76 stack up`: what the other commands read to find the stack
# (d76_cli.stack_client). The manifest holds no secrets; the two secret files are 0600.
DEFAULT_STATE_DIR = Path(".d76") / "stack"
STATE_MANIFEST = "stack.json"                                # pieces, urls, pids, targets, redacted database
STATE_TOKEN_FILE = Path("alertmanager") / "receiver_token"   # the receiver's bearer token
STATE_DATABASE_URL_FILE = "database_url"                     # the receiver's DATABASE_URL (may hold a password)

EXPORTER_PORT = 9876       # d76 simulate / the bot's exporter, scraped as job="d75"
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
RECEIVER_PORT = 9099       # webhook_receiver (Flask under waitress)
GRAFANA_PORT = 3000
POSTGRES_PORT = 55432      # the throwaway cluster of `d76 stack up --postgres` (and `--ha`)


# `d76 stack up --ha`: replica a keeps the single-stack ports above, the others follow.
# Gossip ports avoid 9094, Alertmanager's default cluster port (a system Alertmanager may hold it).
HA_PROMETHEUS_PORTS = (PROMETHEUS_PORT, 9190)
HA_ALERTMANAGER_PORTS = (ALERTMANAGER_PORT, 9193, 9293)
HA_ALERTMANAGER_CLUSTER_PORTS = (9794, 9795, 9796)
HA_RECEIVER_PORTS = (RECEIVER_PORT, 9199)
HA_REPLICA_LABEL = "replica"          # Prometheus external label, dropped from alerts
REPLICA_NAMES = "abcdefgh"

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
