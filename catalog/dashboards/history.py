"""Alert history: the receiver's PostgreSQL tables (alerts, suppressed_episodes) through the
PostgreSQL datasource."""
from __future__ import annotations

from typing import Any

from ..model import Catalog
from .builder import Panel, dashboard, sql

NOT_HEARTBEAT = "alertname <> 'Watchdog'"


def build(catalog: Catalog) -> dict[str, Any]:
    panels = [
        Panel(
            "Alerts in range",
            [sql(f"SELECT count(*) AS alerts FROM alerts WHERE $__timeFilter(starts_at) AND {NOT_HEARTBEAT}")],
            kind="stat",
            width=6,
            height=5,
        ),
        Panel(
            "Open and unacknowledged",
            [
                sql(
                    "SELECT count(*) AS open FROM alerts WHERE status = 'firing' AND NOT acknowledged "
                    f"AND {NOT_HEARTBEAT}"
                )
            ],
            kind="stat",
            width=6,
            height=5,
            thresholds={"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}]},
        ),
        Panel(
            "Mean time to acknowledge",
            [
                sql(
                    "SELECT avg(EXTRACT(EPOCH FROM (acknowledged_at - starts_at))) AS mtta FROM alerts "
                    f"WHERE acknowledged AND $__timeFilter(starts_at) AND {NOT_HEARTBEAT}"
                )
            ],
            kind="stat",
            unit="s",
            width=6,
            height=5,
        ),
        Panel(
            "Mean time to resolve",
            [
                sql(
                    "SELECT avg(EXTRACT(EPOCH FROM (ends_at - starts_at))) AS mttr FROM alerts "
                    f"WHERE status = 'resolved' AND $__timeFilter(starts_at) AND {NOT_HEARTBEAT}"
                )
            ],
            kind="stat",
            unit="s",
            width=6,
            height=5,
        ),
        Panel(
            "Recent alerts",
            [
                sql(
                    'SELECT starts_at AS "time", severity, source, alertname, title, status, acknowledged_by, '
                    "EXTRACT(EPOCH FROM (acknowledged_at - starts_at)) AS time_to_ack_s, "
                    "EXTRACT(EPOCH FROM (ends_at - starts_at)) AS time_to_resolve_s, receive_count "
                    f"FROM alerts WHERE $__timeFilter(starts_at) AND {NOT_HEARTBEAT} ORDER BY starts_at DESC LIMIT 200"
                )
            ],
            kind="table",
            width=24,
            height=10,
        ),
        Panel(
            "Alerts per day by severity",
            [
                sql(
                    "SELECT date_trunc('day', starts_at) AS \"time\", severity AS metric, count(*) AS value "
                    "FROM alerts "
                    f"WHERE $__timeFilter(starts_at) AND {NOT_HEARTBEAT} GROUP BY 1, 2 ORDER BY 1",
                    fmt="time_series",
                )
            ],
            kind="timeseries",
            width=12,
            options={"legend": {"displayMode": "list", "placement": "bottom"}},
        ),
        Panel(
            "Alerts per day by source",
            [
                sql(
                    "SELECT date_trunc('day', starts_at) AS \"time\", source AS metric, count(*) AS value FROM alerts "
                    f"WHERE $__timeFilter(starts_at) AND {NOT_HEARTBEAT} GROUP BY 1, 2 ORDER BY 1",
                    fmt="time_series",
                )
            ],
            kind="timeseries",
            width=12,
        ),
        Panel(
            "Suppressed episodes (silenced or inhibited)",
            [
                sql(
                    'SELECT e.started_at AS "time", a.severity, a.alertname, e.kind, '
                    "CASE WHEN e.kind = 'silenced' THEN coalesce(e.silence_created_by, '?') || ': ' || "
                    "coalesce(e.silence_comment, '') ELSE coalesce(e.inhibiting_alertname, e.cause) END AS cause, "
                    "EXTRACT(EPOCH FROM (coalesce(e.ended_at, a.ends_at, now()) - e.started_at)) AS suppressed_s, "
                    "a.status, a.reconciled_at IS NOT NULL AS reconciled "
                    "FROM suppressed_episodes e JOIN alerts a ON a.id = e.alert_id "
                    f"WHERE $__timeFilter(e.started_at) AND a.{NOT_HEARTBEAT} ORDER BY e.started_at DESC LIMIT 200"
                )
            ],
            kind="table",
            width=24,
            height=8,
            description="Alerts Alertmanager held back: who silenced them and why, or which alert "
            "inhibited them (recorded by the receiver's reconciler).",
        ),
        Panel(
            "Noisiest alerts",
            [
                sql(
                    "SELECT alertname, severity, count(*) AS occurrences, "
                    "sum(receive_count) AS notifications_received, "
                    "avg(EXTRACT(EPOCH FROM (coalesce(ends_at, now()) - starts_at))) AS mean_duration_s FROM alerts "
                    f"WHERE $__timeFilter(starts_at) AND {NOT_HEARTBEAT} GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 15"
                )
            ],
            kind="table",
            width=24,
            height=8,
        ),
    ]
    return dashboard("d76-alert-history", "D76 / Alert history", panels, tags=["history"], time_from="now-7d",
                     description="Every alert the receiver stored (PostgreSQL).")
