"""Default loopback ports and names of the stack.

One place, read by the config generator (prometheus.yml targets), the native stack runner, the
demo and the docker-compose check, so that every piece agrees on where the others listen.
"""
from __future__ import annotations

HOST = "127.0.0.1"

EXPORTER_PORT = 9876       # d76 simulate / the bot's exporter, scraped as job="d75"
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
RECEIVER_PORT = 9099       # webhook_receiver (Flask under waitress)
GRAFANA_PORT = 3000
POSTGRES_PORT = 55432      # the throwaway cluster of `d76 stack up --postgres`

SCRAPE_JOB = "d75"
