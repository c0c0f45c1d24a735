"""Pipeline health: receiver, notifications, Prometheus rule evaluation, Alertmanager notifications."""
from __future__ import annotations

from typing import Any

from ..model import Catalog
from .builder import Panel, dashboard, prom


def build(catalog: Catalog) -> dict[str, Any]:
    panels = [
        Panel(
            "Scrape targets up",
            [prom("up", "{{job}} {{instance}}")],
            kind="state-timeline",
            width=24,
            height=5,
            mappings=[
                {
                    "type": "value",
                    "options": {"0": {"text": "DOWN", "color": "red"}, "1": {"text": "UP", "color": "green"}},
                }
            ],
        ),
        Panel(
            "Receiver requests by status",
            [
                prom(
                    'sum by (endpoint, status) (rate(d76_receiver_requests_total{job="receiver"}[1m]))',
                    "{{endpoint}} {{status}}",
                )
            ],
            unit="reqps",
        ),
        Panel(
            "Receiver ingest latency p99",
            [
                prom(
                    "histogram_quantile(0.99, sum by (le) "
                    '(rate(d76_receiver_ingest_duration_seconds_bucket{job="receiver"}[5m])))',
                    "p99 ingest",
                )
            ],
            unit="s",
        ),
        Panel(
            "Receiver storage errors and bad payloads",
            [
                prom('sum(increase(d76_receiver_storage_errors_total{job="receiver"}[5m]))', "storage errors"),
                prom('sum(increase(d76_receiver_bad_payloads_total{job="receiver"}[5m]))', "bad payloads", "B"),
            ],
        ),
        Panel(
            "Alerts stored by severity",
            [
                prom(
                    'sum by (severity) (increase(d76_receiver_alerts_stored_total{job="receiver"}[5m]))', "{{severity}}"
                )
            ],
        ),
        Panel(
            "Notifications sent per channel",
            [prom('sum by (channel) (increase(d76_notifications_sent_total{job="receiver"}[5m]))', "{{channel}}")],
        ),
        Panel(
            "Notifications failed and retried",
            [
                prom(
                    'sum by (channel) (increase(d76_notifications_failed_total{job="receiver"}[5m]))',
                    "failed {{channel}}",
                ),
                prom(
                    'sum by (channel) (increase(d76_notifications_retries_total{job="receiver"}[5m]))',
                    "retried {{channel}}",
                    "B",
                ),
            ],
        ),
        Panel(
            "Outbox depth",
            [prom('sum by (channel) (d76_notifications_outbox_depth{job="receiver"})', "{{channel}}")],
            thresholds={
                "mode": "absolute",
                "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 50}],
            },
        ),
        Panel(
            "Pacing folds (storm summaries)",
            [prom('sum by (severity) (increase(d76_notifications_folded_total{job="receiver"}[5m]))', "{{severity}}")],
        ),
        Panel(
            "Prometheus rule evaluation",
            [
                prom('sum(rate(prometheus_rule_evaluations_total{job="prometheus"}[1m]))', "evaluations/s"),
                prom('sum(rate(prometheus_rule_evaluation_failures_total{job="prometheus"}[1m]))', "failures/s", "B"),
            ],
        ),
        Panel(
            "Rule group duration",
            [
                prom(
                    'max by (rule_group) (prometheus_rule_group_last_duration_seconds{job="prometheus"})',
                    "{{rule_group}}",
                )
            ],
            unit="s",
        ),
        Panel(
            "Prometheus -> Alertmanager",
            [
                prom('sum(rate(prometheus_notifications_sent_total{job="prometheus"}[1m]))', "sent/s"),
                prom('sum(rate(prometheus_notifications_dropped_total{job="prometheus"}[1m]))', "dropped/s", "B"),
                prom('sum(prometheus_notifications_queue_length{job="prometheus"})', "queue", "C"),
            ],
        ),
        Panel(
            "Alertmanager notifications",
            [
                prom(
                    'sum by (integration) (rate(alertmanager_notifications_total{job="alertmanager"}[5m]))',
                    "sent {{integration}}",
                ),
                prom(
                    'sum by (integration) (rate(alertmanager_notifications_failed_total{job="alertmanager"}[5m]))',
                    "failed {{integration}}",
                    "B",
                ),
            ],
        ),
        Panel(
            "Alertmanager alerts by state",
            [prom('sum by (state) (alertmanager_alerts{job="alertmanager"})', "{{state}}")],
        ),
    ]
    return dashboard("d76-pipeline", "D76 / Alerting pipeline health", panels, tags=["pipeline"],
                     description="Is the alerting pipeline itself healthy? Receiver, notifications, Prometheus, "
                                 "Alertmanager.")
