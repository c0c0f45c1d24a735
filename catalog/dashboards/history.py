"""Alert history: the receiver's PostgreSQL tables (alerts, suppressed_episodes) through the
PostgreSQL datasource."""
from __future__ import annotations

from typing import Any

from vocabulary import WATCHDOG

from ..model import Catalog
from .panels import RED_FROM_ONE, AnyPanel, dashboard, series, sql, stat_panel, table_panel

NOT_HEARTBEAT = f"alertname <> '{WATCHDOG}'"
IN_RANGE = f"$__timeFilter(starts_at) AND {NOT_HEARTBEAT}"


def build(catalog: Catalog) -> dict[str, Any]:
    panels: list[AnyPanel] = [
        stat_panel("Alerts in range", sql(f"SELECT count(*) AS alerts FROM alerts WHERE {IN_RANGE}"), w=6, h=5),
        stat_panel("Open and unacknowledged",
                   sql(f"SELECT count(*) AS open FROM alerts WHERE status = 'firing' AND NOT acknowledged "
                       f"AND {NOT_HEARTBEAT}"),
                   w=6, h=5, thresholds=RED_FROM_ONE),
        stat_panel("Mean time to acknowledge",
                   sql("SELECT avg(EXTRACT(EPOCH FROM (acknowledged_at - starts_at))) AS mtta FROM alerts "
                       f"WHERE acknowledged AND {IN_RANGE}"),
                   unit="s", w=6, h=5),
        stat_panel("Mean time to resolve",
                   sql("SELECT avg(EXTRACT(EPOCH FROM (ends_at - starts_at))) AS mttr FROM alerts "
                       f"WHERE status = 'resolved' AND {IN_RANGE}"),
                   unit="s", w=6, h=5),
        table_panel("Recent alerts",
                    sql('SELECT starts_at AS "time", severity, source, alertname, title, status, acknowledged_by, '
                        "EXTRACT(EPOCH FROM (acknowledged_at - starts_at)) AS time_to_ack_s, "
                        "EXTRACT(EPOCH FROM (ends_at - starts_at)) AS time_to_resolve_s, receive_count "
                        f"FROM alerts WHERE {IN_RANGE} ORDER BY starts_at DESC LIMIT 200"),
                    h=10),
        series("Alerts per day by severity",
               sql("SELECT date_trunc('day', starts_at) AS \"time\", severity AS metric, count(*) AS value "
                   f"FROM alerts WHERE {IN_RANGE} GROUP BY 1, 2 ORDER BY 1", time_series=True),
               list_legend=True),
        series("Alerts per day by source",
               sql("SELECT date_trunc('day', starts_at) AS \"time\", source AS metric, count(*) AS value "
                   f"FROM alerts WHERE {IN_RANGE} GROUP BY 1, 2 ORDER BY 1", time_series=True)),
        table_panel("Suppressed episodes (silenced or inhibited)",
                    sql('SELECT e.started_at AS "time", a.severity, a.alertname, e.kind, '
                        "CASE WHEN e.kind = 'silenced' THEN coalesce(e.silence_created_by, '?') || ': ' || "
                        "coalesce(e.silence_comment, '') ELSE coalesce(e.inhibiting_alertname, e.cause) END AS cause, "
                        "EXTRACT(EPOCH FROM (coalesce(e.ended_at, a.ends_at, now()) - e.started_at)) AS suppressed_s, "
                        "a.status, a.reconciled_at IS NOT NULL AS reconciled "
                        "FROM suppressed_episodes e JOIN alerts a ON a.id = e.alert_id "
                        f"WHERE $__timeFilter(e.started_at) AND a.{NOT_HEARTBEAT} "
                        "ORDER BY e.started_at DESC LIMIT 200"),
                    description="Alerts Alertmanager held back: who silenced them and why, or which alert "
                                "inhibited them (recorded by the receiver's reconciler)."),
        table_panel("Noisiest alerts",
                    sql("SELECT alertname, severity, count(*) AS occurrences, "
                        "sum(receive_count) AS notifications_received, "
                        "avg(EXTRACT(EPOCH FROM (coalesce(ends_at, now()) - starts_at))) AS mean_duration_s "
                        f"FROM alerts WHERE {IN_RANGE} GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 15")),
    ]
    return dashboard("d76-alert-history", "D76 / Alert history", panels, tags=["history"], time_from="now-7d",
                     description="Every alert the receiver stored (PostgreSQL).")
