"""The alerting pipeline watching itself: catalog alerts with source `pipeline`.

Prometheus already scrapes itself (job `prometheus`), every Alertmanager (job `alertmanager`) and
every receiver (job `receiver`); these rules watch them, the receiver's outbox and its storage. The
generated Alertmanager config sends every alert of this source to the receiver **and**, when a
Telegram bot is configured for the deployment, through Alertmanager's own Telegram integration
(`catalog.render_alertmanager.NativeRoad`), a road that does not pass through the receiver: a dead
receiver is reported by the one piece still alive after it.

Severities and `for`, chosen for a small trading team that must not miss a page and must not be
woken by a restart:

- **ReceiverDown, AlertmanagerDown: P0 after 30s.** While either is down, every alert of the bot is
  lost or late, so they page like the bot's worst incidents; 30 s is six missed scrapes of the
  5 s infrastructure interval, longer than a restart (`systemctl restart`, a container update) takes,
  short enough that an exchange outage in the meantime is not discovered an hour later. A single
  Alertmanager cannot send its own death: in the single shape AlertmanagerDown reaches a phone only
  through the receiver's dead man's switch (the Watchdog stops) or the external heartbeat; in the HA
  shape the other Alertmanagers send it.
- **ReceiverStorageDown, NotificationsP0Waiting: P0.** Either means pages are not going out through
  the receiver right now (it answers 503, or its Telegram lane is stuck); only the native road
  carries them.
- **P1** for what loses or delays notifications without stopping them: a Prometheus without an
  Alertmanager (in HA the other replica still sends everything), dropped notifications, failing
  Alertmanager integrations, deliveries given up, rule evaluation failures (an alert that cannot
  be evaluated cannot fire), a split Alertmanager cluster (pages may be told more than once),
  backlog of P1-P3 notifications older than 10 minutes.
- **P2** for what degrades the history or the pace: reconciliation failing, Telegram answering 429
  for 10 minutes on end.

Every alert has an `action` annotation (what to do now) besides its summary, description and
runbook. Promtool tests are generated from the probes like the bot's alerts; the label sets use the
compose service names (`receiver:9099`), which is all promtool needs.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from vocabulary import ALERTMANAGER_PORT, PIPELINE_SOURCE, PROMETHEUS_PORT, RECEIVER_PORT

from .model import AlertSpec, Probe
from .texts import Graph

__all__ = ["PIPELINE_SPECS", "RECEIVER_JOB", "ALERTMANAGER_JOB", "PROMETHEUS_JOB"]

RECEIVER_JOB = "receiver"
ALERTMANAGER_JOB = "alertmanager"
PROMETHEUS_JOB = "prometheus"

RCV = {"job": RECEIVER_JOB, "instance": f"receiver:{RECEIVER_PORT}"}
AM = {"job": ALERTMANAGER_JOB, "instance": f"alertmanager-a:{ALERTMANAGER_PORT}"}
PROM = {"job": PROMETHEUS_JOB, "instance": f"localhost:{PROMETHEUS_PORT}"}
# Prometheus drops the alerts it evaluates before it has discovered its Alertmanagers (every cold
# start, prometheus/prometheus#10457): drops in the first two minutes of its life do not count.
STARTUP_GRACE_SECONDS = 120

Labels = Mapping[str, str]


def _sel(metric: str, labels: Labels) -> str:
    return metric + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _const(value: float) -> Callable[[float | None], float]:
    return lambda _t: value


def _status(metric: str, labels: Labels, *, at: float, past: float, calm: float,
            absent_labels: dict[str, str] | None = None) -> Probe:
    s = _sel(metric, labels)
    return Probe(series=lambda v: {s: v}, at=_const(at), past=_const(past), calm=_const(calm),
                 exp_labels=dict(labels), absent_labels=absent_labels)


def _counter(metric: str, labels: Labels, *, window_samples: int, exp_labels: Labels | None = None,
             others: Mapping[str, float] | None = None, constant: Mapping[str, float] | None = None) -> Probe:
    """A counter growing by `level` per 15 s sample (see `catalog.defaults._counter`); `others`: more
    counters growing by a fixed amount per sample, `constant`: series held at one value."""
    s = _sel(metric, labels)
    ws = window_samples
    extra = dict(others or {})

    def of(level: Callable[[float], float]) -> Callable[[float | None], float]:
        def f(t: float | None) -> float:
            if t is None:
                raise ValueError("a counter probe computes its levels from the alert's threshold")
            return level(t)
        return f

    return Probe(series=lambda v: {s: v, **extra}, at=of(lambda t: t / ws * (1 - 1e-9)),
                 past=of(lambda t: max(1.0, (t + 1) / ws)), calm=_const(0.0), kind="counter",
                 settle_seconds=ws * 15, value=lambda v: v * ws,
                 exp_labels=dict(exp_labels if exp_labels is not None else labels), constant=dict(constant or {}))


def _oldest_due(severity: str, exp: Labels) -> Probe:
    """The receiver's oldest due notification of `severity` on Telegram, `level` seconds old."""
    s = _sel("d76_notifications_oldest_due_age_seconds", {**RCV, "channel": "telegram", "severity": severity})
    return Probe(series=lambda v: {s: v}, at=lambda t: float(t or 0), past=lambda t: float(t or 0) + 5,
                 calm=_const(0.0), exp_labels=dict(exp))


_PIPELINE_CHECKS = (
    "`d76 stack status` (or `docker compose ps`): which pieces run, and their health.",
    "The Pipeline health dashboard: scrape targets, outbox, notifications, Alertmanager.",
)

PIPELINE_SPECS: tuple[AlertSpec, ...] = (
    AlertSpec(
        name="ReceiverDown",
        source=PIPELINE_SOURCE,
        severity="P0",
        for_="30s",
        expr=f'up{{job="{RECEIVER_JOB}"}} == 0 or label_replace(absent(up{{job="{RECEIVER_JOB}"}}), '
        '"instance", "no receiver target", "", "")',
        comparison="==",
        metric="up",
        labels=("job", "instance"),
        unit="status",
        graph=(
            Graph("receivers up", 'up{job="receiver"}', states=("DOWN", "UP")),
        ),
        summary="Alert receiver down ({label:instance})",
        description="Prometheus has not reached the webhook receiver ({label:instance}) for {for} (up={value}; "
        "1 means no receiver is configured at all). Alertmanager's posts to it fail: the bot's alerts "
        "are not stored nor told through it.",
        meaning="The receiver stores and tells every alert; while it is down, pages arrive only by "
        "Alertmanager's own Telegram road (pipeline alerts) and are queued in Alertmanager otherwise. "
        "In the HA shape the other receiver still works.",
        checks=("Is the receiver process running? `d76 stack logs receiver`, `systemctl status`, or the "
                "container state.",
                "Can Prometheus reach it: `curl http://RECEIVER/readyz` from the Prometheus host.",
                "Its storage: a receiver that cannot open its database does not start.") + _PIPELINE_CHECKS,
        action="Restart the receiver (`docker compose up -d receiver` or your service manager) and read its "
        "log; Alertmanager re-sends what it could not deliver.",
        probe=_status("up", RCV, at=1, past=0, calm=1,
                      absent_labels={"job": RECEIVER_JOB, "instance": "no receiver target"}),
    ),
    AlertSpec(
        name="AlertmanagerDown",
        source=PIPELINE_SOURCE,
        severity="P0",
        for_="30s",
        expr=f'up{{job="{ALERTMANAGER_JOB}"}} == 0',
        comparison="==",
        metric="up",
        labels=("job", "instance"),
        unit="status",
        graph=(
            Graph("Alertmanagers up", 'up{job="alertmanager"}', states=("DOWN", "UP")),
        ),
        summary="Alertmanager down ({label:instance})",
        description="Prometheus has not reached Alertmanager {label:instance} for {for} (up={value}). Alerts "
        "sent to it are lost until it is back; with one Alertmanager nothing is routed at all.",
        meaning="Alertmanager routes every alert to the receiver and to Telegram. A lone Alertmanager "
        "cannot report its own death: the receiver's dead man's switch (the Watchdog stops arriving) "
        "and the external heartbeat do. In the HA shape the other members send this alert.",
        checks=("Is the Alertmanager process running? `d76 stack logs alertmanager` or the container log.",
                "Does its config load? `amtool check-config alertmanager.yml`.") + _PIPELINE_CHECKS,
        action="Restart Alertmanager and check its log (a config that no longer loads keeps it down).",
        probe=_status("up", AM, at=1, past=0, calm=1),
    ),
    AlertSpec(
        name="AlertmanagerClusterDegraded",
        source=PIPELINE_SOURCE,
        severity="P1",
        for_="2m",
        expr=f'alertmanager_cluster_members{{job="{ALERTMANAGER_JOB}"}} < on () group_left () '
        f'count(up{{job="{ALERTMANAGER_JOB}"}}) unless on () (min(up{{job="{ALERTMANAGER_JOB}"}}) == 0)',
        comparison="<",
        metric="alertmanager_cluster_members",
        labels=("job", "instance"),
        unit="count",
        graph=(
            Graph("cluster members", 'alertmanager_cluster_members{job="alertmanager"}'),
            Graph("Alertmanagers scraped", 'count(up{job="alertmanager"})'),
        ),
        summary="Alertmanager cluster split ({label:instance})",
        description="Alertmanager {label:instance} has seen only {value} cluster members for {for}, fewer than "
        "the Alertmanagers Prometheus scrapes, although every one of them is up: gossip is broken.",
        meaning="Clustered Alertmanagers share silences and who already notified; split, each one "
        "notifies on its own, so pages may be told more than once and a silence made on one member does "
        "not hold on the others. (A member that is down is AlertmanagerDown's business.)",
        checks=("`d76 stack status` shows each Alertmanager's cluster status and peers.",
                "The cluster ports (`--cluster.listen-address`, 9094 by default) between the hosts: firewall, "
                "DNS of `--cluster.peer`.") + _PIPELINE_CHECKS,
        action="Check the gossip port between the Alertmanagers and restart the member that lost its peers.",
        probe=Probe(
            series=lambda v: {_sel("alertmanager_cluster_members", AM): v,
                              _sel("up", AM): 1.0,
                              _sel("up", {**AM, "instance": f"alertmanager-b:{ALERTMANAGER_PORT}"}): 1.0,
                              _sel("up", {**AM, "instance": f"alertmanager-c:{ALERTMANAGER_PORT}"}): 1.0},
            at=_const(3), past=_const(2), calm=_const(3), exp_labels=dict(AM)),
    ),
    AlertSpec(
        name="PrometheusNoAlertmanager",
        source=PIPELINE_SOURCE,
        severity="P1",
        for_="1m",
        expr=f'prometheus_notifications_alertmanagers_discovered{{job="{PROMETHEUS_JOB}"}} < 1',
        comparison="<",
        metric="prometheus_notifications_alertmanagers_discovered",
        labels=("job", "instance"),
        unit="count",
        graph=(
            Graph("Alertmanagers discovered",
                  'prometheus_notifications_alertmanagers_discovered{job="prometheus"}'),
        ),
        summary="Prometheus {label:instance} has no Alertmanager",
        description="Prometheus {label:instance} has discovered {value} Alertmanagers for {for}: the alerts "
        "it evaluates go nowhere.",
        meaning="This Prometheus evaluates every rule and sends nothing. In the HA shape the other replica "
        "still sends (and sends this alert); a single Prometheus cannot tell it, the receiver's dead "
        "man's switch does.",
        checks=("`alerting.alertmanagers` in prometheus.yml; `promtool check config`.",
                "Prometheus' log for `notifier` errors; its /api/v1/alertmanagers page.") + _PIPELINE_CHECKS,
        action="Fix `alerting.alertmanagers` in this Prometheus' config and reload it.",
        probe=_status("prometheus_notifications_alertmanagers_discovered", PROM, at=1, past=0, calm=1),
    ),
    AlertSpec(
        name="PrometheusNotificationsDropped",
        source=PIPELINE_SOURCE,
        severity="P1",
        expr=f'increase(prometheus_notifications_dropped_total{{job="{PROMETHEUS_JOB}"}}[1m]) > {{threshold}} '
        f'and on (job, instance) (time() - process_start_time_seconds{{job="{PROMETHEUS_JOB}"}} '
        f'> {STARTUP_GRACE_SECONDS})',
        threshold=0,
        comparison=">",
        metric="prometheus_notifications_dropped_total",
        labels=("job", "instance"),
        unit="count",
        graph=(
            Graph("notifications dropped (1m)",
                  'increase(prometheus_notifications_dropped_total{job="prometheus"}[1m])', threshold="own"),
        ),
        summary="Prometheus {label:instance} dropped alert notifications",
        description="Prometheus {label:instance} dropped {value} alert notifications in the last minute "
        "(no Alertmanager accepted them, or its queue overflowed). Drops in its first "
        f"{STARTUP_GRACE_SECONDS // 60} minutes (before it has found its Alertmanagers) do not count.",
        meaning="Alerts evaluated by this Prometheus did not reach any Alertmanager: they are sent again "
        "at the next resend (5 s) while they fire, but a short incident may be missed.",
        checks=("Prometheus' log for `Error sending alert` (timeouts, refused connections).",
                "AlertmanagerDown and PrometheusNoAlertmanager: usually one of them fires too.",
                "`prometheus_notifications_queue_length` near its capacity: an alert storm.") + _PIPELINE_CHECKS,
        action="Check that every Alertmanager answers (`curl ALERTMANAGER/-/ready`) and read Prometheus' log.",
        probe=_counter("prometheus_notifications_dropped_total", PROM, window_samples=4,
                       constant={_sel("process_start_time_seconds", PROM): -3600.0}),
    ),
    AlertSpec(
        name="AlertmanagerNotificationsFailing",
        source=PIPELINE_SOURCE,
        severity="P1",
        expr=f'sum by (job, instance, integration) (increase(alertmanager_notifications_failed_total'
        f'{{job="{ALERTMANAGER_JOB}"}}[10m])) > {{threshold}}',
        threshold=2,
        comparison=">",
        metric="alertmanager_notifications_failed_total",
        labels=("job", "instance", "integration"),
        unit="count",
        graph=(
            Graph("failed notifications by integration (10m)",
                  'sum by (integration) (increase(alertmanager_notifications_failed_total{job="alertmanager"}[10m]))',
                  threshold="own"),
        ),
        summary="Alertmanager {label:instance}: {label:integration} notifications failing",
        description="{value} notifications from Alertmanager {label:instance} through its {label:integration} "
        "integration failed in the last 10 minutes (alert above {threshold}).",
        meaning="`webhook`: Alertmanager cannot post to the receiver (down, wrong token, 503 while its "
        "storage is down); it retries, so alerts are late, not lost. `telegram` or `email`: the road "
        "that bypasses the receiver is broken, so the receiver's own death would go unreported.",
        checks=("Alertmanager's log: `Notify for alerts failed` names the integration and the error.",
                "webhook: ReceiverDown or ReceiverStorageDown; the token file next to alertmanager.yml.",
                "telegram: the bot token and chat id in the rendered alertmanager.yml; the bot is still a "
                "member of the chat.") + _PIPELINE_CHECKS,
        action="Read Alertmanager's log for the failing integration and fix its target (receiver, bot token, "
        "SMTP server).",
        probe=_counter("alertmanager_notifications_failed_total", {**AM, "integration": "webhook"},
                       window_samples=40),
    ),
    AlertSpec(
        name="NotificationsP0Waiting",
        source=PIPELINE_SOURCE,
        severity="P0",
        expr='max by (channel) (d76_notifications_oldest_due_age_seconds{job="receiver",severity="P0"}) '
        "> {threshold}",
        threshold=30,
        comparison=">",
        metric="d76_notifications_oldest_due_age_seconds",
        labels=("channel",),
        unit="seconds",
        graph=(
            Graph("oldest due P0 in the outbox",
                  'max by (channel) (d76_notifications_oldest_due_age_seconds{job="receiver",severity="P0"})',
                  "seconds", "own"),
        ),
        summary="A P0 page has waited in the outbox for {value} ({label:channel})",
        description="The oldest P0 notification for {label:channel} was queued {value} ago and is still not "
        "delivered (alert above {threshold}s).",
        meaning="The receiver stored a page but cannot tell it: the channel fails, is rate limited, or no "
        "receiver holds the lane. The phone has not heard about a P0.",
        checks=("`d76 stack logs receiver`: delivery errors of the channel (401 bad token, 403 bot removed "
                "from the chat, timeouts).",
                "NotificationsGivenUp and TelegramRateLimited; the outbox panels of the Pipeline health "
                "dashboard.",
                "`d76 history` shows the stored P0: act on it while delivery is fixed.") + _PIPELINE_CHECKS,
        action="Open `d76 history` (or the receiver's /alerts page) for the waiting P0 and act on it; then fix "
        "the channel named in the receiver's log.",
        probe=_oldest_due("P0", {"channel": "telegram"}),
    ),
    AlertSpec(
        name="NotificationsBacklogOld",
        source=PIPELINE_SOURCE,
        severity="P1",
        expr='max by (channel, waiting_severity) (label_replace(d76_notifications_oldest_due_age_seconds'
        '{job="receiver",severity=~"P1|P2|P3"}, "waiting_severity", "$1", "severity", "(.*)")) > {threshold}',
        threshold=600,
        comparison=">",
        metric="d76_notifications_oldest_due_age_seconds",
        labels=("channel", "waiting_severity"),
        unit="seconds",
        graph=(
            Graph("oldest due row by severity",
                  'max by (severity) (d76_notifications_oldest_due_age_seconds{job="receiver"})', "seconds", "own"),
        ),
        summary="{label:waiting_severity} notifications waiting for {value} ({label:channel})",
        description="The oldest {label:waiting_severity} notification for {label:channel} was queued {value} "
        "ago and is still not delivered (alert above {threshold}s).",
        meaning="Notifications pile up in the receiver's outbox: the channel is failing or far over its "
        "rate limits. P0s go first, so they may still be told; everything else is late.",
        checks=("`d76 stack logs receiver`: delivery errors of the channel.",
                "The outbox depth and oldest-due panels of the Pipeline health dashboard.") + _PIPELINE_CHECKS,
        action="Check the channel's errors in the receiver's log; read what is waiting with `d76 history`.",
        probe=_oldest_due("P2", {"channel": "telegram", "waiting_severity": "P2"}),
    ),
    AlertSpec(
        name="NotificationsGivenUp",
        source=PIPELINE_SOURCE,
        severity="P1",
        expr='sum by (channel) (increase(d76_notifications_failed_total{job="receiver"}[15m])) > {threshold}',
        threshold=0,
        comparison=">",
        metric="d76_notifications_failed_total",
        labels=("channel",),
        unit="count",
        graph=(
            Graph("deliveries given up (15m)",
                  'sum by (channel) (increase(d76_notifications_failed_total{job="receiver"}[15m]))',
                  threshold="own"),
        ),
        summary="{label:channel} notifications given up",
        description="The receiver gave up on {value} {label:channel} notifications in the last 15 minutes "
        "(a permanent error, or 10 failed attempts).",
        meaning="Those messages will never arrive; the alerts themselves are in the history.",
        checks=("`d76 history --id N` shows each delivery and its last error.",
                "401/403 from Telegram: the bot token, or the bot was removed from the chat.") + _PIPELINE_CHECKS,
        action="Read the last error of the failed deliveries (`d76 history --id N`), fix the channel, and "
        "look at the alerts that were not told.",
        probe=_counter("d76_notifications_failed_total", {**RCV, "channel": "telegram", "kind": "firing"},
                       window_samples=60, exp_labels={"channel": "telegram"}),
    ),
    AlertSpec(
        name="TelegramRateLimited",
        source=PIPELINE_SOURCE,
        severity="P2",
        for_="10m",
        expr='sum by (channel) (increase(d76_notifications_rate_limited_total{job="receiver",channel="telegram"}'
        "[5m])) > {threshold}",
        threshold=0,
        comparison=">",
        metric="d76_notifications_rate_limited_total",
        labels=("channel",),
        unit="count",
        graph=(
            Graph("Telegram 429s (10m)",
                  'sum(increase(d76_notifications_rate_limited_total{job="receiver",channel="telegram"}[10m]))',
                  threshold="own"),
        ),
        summary="Telegram has been answering 429 for {for}",
        description="Telegram answered {value} calls with 429 (too many requests) in the last 5 minutes and has "
        "done so for {for}: the receiver sends more than the chat takes.",
        meaning="Messages are late: every 429 holds the chat for Telegram's retry_after. Usually another "
        "process uses the same bot, or the pacing limits were raised above Telegram's.",
        checks=("Does another program send with the same bot token?",
                "TELEGRAM_CHAT_PER_MINUTE, TELEGRAM_CHAT_MIN_INTERVAL_SECONDS: not above Telegram's limits.",
                "A storm: many alerts firing at once (the Overview dashboard).") + _PIPELINE_CHECKS,
        action="Stop whatever else sends with this bot, or route the noisy severities to another chat.",
        probe=_counter("d76_notifications_rate_limited_total", {**RCV, "channel": "telegram"}, window_samples=20,
                       exp_labels={"channel": "telegram"}),
    ),
    AlertSpec(
        name="ReceiverStorageDown",
        source=PIPELINE_SOURCE,
        severity="P0",
        for_="1m",
        expr='d76_receiver_storage_up{job="receiver"} == 0',
        comparison="==",
        metric="d76_receiver_storage_up",
        labels=("job", "instance"),
        unit="status",
        graph=(
            Graph("receiver storage up", 'd76_receiver_storage_up{job="receiver"}', states=("DOWN", "UP")),
        ),
        summary="Receiver storage unavailable ({label:instance})",
        description="The receiver {label:instance} has not reached its database for {for} (storage up={value}): "
        "it answers 503 to Alertmanager and tells nothing.",
        meaning="No alert is stored or told through the receiver; Alertmanager keeps retrying, so they "
        "arrive once the database is back. Meanwhile only the native Telegram road works.",
        checks=("PostgreSQL: is it running, reachable, not out of disk or connections?",
                "The receiver's log: `storage unavailable` names the reason.") + _PIPELINE_CHECKS,
        action="Bring the database back (disk, connections, the PostgreSQL service); the receiver reconnects "
        "by itself.",
        probe=_status("d76_receiver_storage_up", RCV, at=1, past=0, calm=1),
    ),
    AlertSpec(
        name="HistoryReconcileFailing",
        source=PIPELINE_SOURCE,
        severity="P2",
        for_="5m",
        expr='sum by (job, instance) (increase(d76_history_reconcile_polls_total{job="receiver",outcome!="ok"}'
        "[10m])) > {threshold} unless on (job, instance) (sum by (job, instance) "
        '(increase(d76_history_reconcile_polls_total{job="receiver",outcome="ok"}[10m])) > 0)',
        threshold=0,
        comparison=">",
        metric="d76_history_reconcile_polls_total",
        labels=("job", "instance"),
        unit="count",
        graph=(
            Graph("failed reconcile polls (5m)",
                  'sum by (instance, outcome) '
                  '(increase(d76_history_reconcile_polls_total{job="receiver",outcome!="ok"}[5m]))',
                  threshold="own"),
        ),
        summary="History reconciliation failing ({label:instance})",
        description="The receiver {label:instance} polled Alertmanager {value} times in the last 10 minutes "
        "and never got a complete answer.",
        meaning="Alerts Alertmanager dropped (a restart, an expired event) stay firing in the history, and "
        "suppressed episodes are not recorded; notifications are not affected.",
        checks=("ALERTMANAGER_URL of the receiver: every URL answers `/api/v2/status`?",
                "AlertmanagerDown: one unreachable replica makes every poll partial.") + _PIPELINE_CHECKS,
        action="Check the receiver's ALERTMANAGER_URL list against the running Alertmanagers.",
        probe=_counter("d76_history_reconcile_polls_total", {**RCV, "outcome": "unreachable"}, window_samples=40,
                       exp_labels=RCV,
                       others={_sel("d76_history_reconcile_polls_total", {**RCV, "outcome": "ok"}): 0.0}),
    ),
    AlertSpec(
        name="RuleEvaluationFailures",
        source=PIPELINE_SOURCE,
        severity="P1",
        expr=f'sum by (job, instance, rule_group) (increase(prometheus_rule_evaluation_failures_total'
        f'{{job="{PROMETHEUS_JOB}"}}[5m])) > {{threshold}}',
        threshold=0,
        comparison=">",
        metric="prometheus_rule_evaluation_failures_total",
        labels=("job", "instance", "rule_group"),
        unit="count",
        graph=(
            Graph("rule evaluation failures (5m)",
                  'sum by (rule_group) (increase(prometheus_rule_evaluation_failures_total{job="prometheus"}[5m]))',
                  threshold="own"),
        ),
        summary="Rule evaluation failing in {label:rule_group}",
        description="Prometheus {label:instance} failed to evaluate rules of {label:rule_group} {value} times "
        "in the last 5 minutes: those alerts cannot fire.",
        meaning="An alert whose rule fails to evaluate is blind: the incident it watches would not page.",
        checks=("Prometheus' log: `Evaluating rule failed` names the rule and the error (often "
                "many-to-many matching after a label change in the bot's metrics).",
                "`promtool test rules prometheus/tests/*.yml` against the deployed rules.") + _PIPELINE_CHECKS,
        action="Read the failing rule's error in Prometheus' log and fix the rule or the metric it reads "
        "(`d76 generate` again if an override changed it).",
        probe=_counter("prometheus_rule_evaluation_failures_total", {**PROM, "rule_group": "d75.risk_guard"},
                       window_samples=20),
    ),
)
