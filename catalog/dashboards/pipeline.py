"""Pipeline health: receiver, notifications, Prometheus rule evaluation, Alertmanager notifications, and
what the pipeline's own alerts (source `pipeline`, catalog/pipeline_alerts.py) watch."""
from __future__ import annotations

from typing import Any

from vocabulary import PIPELINE_SOURCE

from ..model import Catalog
from .panels import RED_FROM_ONE, AnyPanel, dashboard, prom, series, stat_panel, state_timeline, value_map
from .thresholds import fixed

RECEIVER = 'job="receiver"'
PROMETHEUS = 'job="prometheus"'
ALERTMANAGER = 'job="alertmanager"'


def build(catalog: Catalog) -> dict[str, Any]:
    panels: list[AnyPanel] = [
        state_timeline("Scrape targets up", prom("up", "{{job}} {{instance}}"), w=24, h=5,
                       mappings=[value_map([("DOWN", "red"), ("UP", "green")])]),
        series("Receiver requests by status",
               prom(f"sum by (endpoint, status) (rate(d76_receiver_requests_total{{{RECEIVER}}}[1m]))",
                    "{{endpoint}} {{status}}"),
               unit="reqps"),
        series("Receiver ingest latency p99",
               prom("histogram_quantile(0.99, sum by (le) "
                    f"(rate(d76_receiver_ingest_duration_seconds_bucket{{{RECEIVER}}}[5m])))", "p99 ingest"),
               unit="s"),
        series("Receiver storage errors and bad payloads",
               prom(f"sum(increase(d76_receiver_storage_errors_total{{{RECEIVER}}}[5m]))", "storage errors"),
               prom(f"sum(increase(d76_receiver_bad_payloads_total{{{RECEIVER}}}[5m]))", "bad payloads", "B")),
        series("Alerts stored by severity",
               prom(f"sum by (severity) (increase(d76_receiver_alerts_stored_total{{{RECEIVER}}}[5m]))",
                    "{{severity}}")),
        series("Notifications sent per channel",
               prom(f"sum by (channel) (increase(d76_notifications_sent_total{{{RECEIVER}}}[5m]))", "{{channel}}")),
        series("Notifications failed and retried",
               prom(f"sum by (channel) (increase(d76_notifications_failed_total{{{RECEIVER}}}[5m]))",
                    "failed {{channel}}"),
               prom(f"sum by (channel) (increase(d76_notifications_retries_total{{{RECEIVER}}}[5m]))",
                    "retried {{channel}}", "B")),
        series("Outbox depth",
               prom(f"sum by (channel) (d76_notifications_outbox_depth{{{RECEIVER}}})", "{{channel}}"),
               thresholds=fixed(("green", None), ("orange", 50))),
        series("Pacing folds (storm summaries)",
               prom(f"sum by (severity) (increase(d76_notifications_folded_total{{{RECEIVER}}}[5m]))",
                    "{{severity}}")),
        series("Prometheus rule evaluation",
               prom(f"sum(rate(prometheus_rule_evaluations_total{{{PROMETHEUS}}}[1m]))", "evaluations/s"),
               prom(f"sum(rate(prometheus_rule_evaluation_failures_total{{{PROMETHEUS}}}[1m]))", "failures/s", "B")),
        series("Rule group duration",
               prom(f"max by (rule_group) (prometheus_rule_group_last_duration_seconds{{{PROMETHEUS}}})",
                    "{{rule_group}}"),
               unit="s"),
        series("Prometheus -> Alertmanager",
               prom(f"sum(rate(prometheus_notifications_sent_total{{{PROMETHEUS}}}[1m]))", "sent/s"),
               prom(f"sum(rate(prometheus_notifications_dropped_total{{{PROMETHEUS}}}[1m]))", "dropped/s", "B"),
               prom(f"sum(prometheus_notifications_queue_length{{{PROMETHEUS}}})", "queue", "C")),
        series("Alertmanager notifications",
               prom(f"sum by (integration) (rate(alertmanager_notifications_total{{{ALERTMANAGER}}}[5m]))",
                    "sent {{integration}}"),
               prom(f"sum by (integration) (rate(alertmanager_notifications_failed_total{{{ALERTMANAGER}}}[5m]))",
                    "failed {{integration}}", "B")),
        series("Alertmanager alerts by state",
               prom(f"sum by (state) (alertmanager_alerts{{{ALERTMANAGER}}})", "{{state}}")),
        # what the pipeline's own alerts watch
        stat_panel("Pipeline alerts firing",
                   prom(f'count(ALERTS{{source="{PIPELINE_SOURCE}",alertstate="firing"}}) or vector(0)', "firing",
                        instant=True),
                   w=6, h=8, background=True, thresholds=RED_FROM_ONE,
                   description="Alerts about the pipeline itself (receiver, Alertmanager, Prometheus, outbox); "
                               "Alertmanager also sends them to Telegram directly."),
        state_timeline("Receiver storage", prom(f"d76_receiver_storage_up{{{RECEIVER}}}", "{{instance}}"), w=18, h=8,
                       mappings=[value_map([("OPEN (503)", "red"), ("UP", "green")])],
                       description="0 while the storage circuit breaker is open (ReceiverStorageDown)."),
        series("Oldest due notification by severity",
               prom(f"max by (severity) (d76_notifications_oldest_due_age_seconds{{{RECEIVER}}})", "{{severity}}"),
               unit="s", thresholds=fixed(("green", None), ("red", 30)),
               description="How long the oldest undelivered notification has waited (NotificationsP0Waiting: a P0 "
                           "over 30 s; NotificationsBacklogOld: P1-P3 over 10 min)."),
        series("Alertmanagers: configured, up, discovered",
               prom(f"count(up{{{ALERTMANAGER}}})", "configured (scraped)"),
               prom(f"sum(up{{{ALERTMANAGER}}})", "up", "B"),
               prom(f"min(prometheus_notifications_alertmanagers_discovered{{{PROMETHEUS}}})",
                    "discovered by Prometheus (min)", "C"),
               description="AlertmanagerDown, PrometheusNoAlertmanager; in HA AlertmanagerClusterDegraded compares "
                           "each member's cluster size with the configured count."),
        series("Telegram 429s and reconcile polls",
               prom(f'sum(increase(d76_notifications_rate_limited_total{{{RECEIVER},channel="telegram"}}[5m]))',
                    "telegram 429s"),
               prom(f"sum by (outcome) (increase(d76_history_reconcile_polls_total{{{RECEIVER}}}[5m]))",
                    "reconcile {{outcome}}", "B"),
               description="TelegramRateLimited (429s for 10 min on end), HistoryReconcileFailing (no complete "
                           "poll in 10 min)."),
    ]
    return dashboard("d76-pipeline", "D76 / Alerting pipeline health", panels, tags=["pipeline"],
                     description="Is the alerting pipeline itself healthy? Receiver, notifications, Prometheus, "
                                 "Alertmanager.")
