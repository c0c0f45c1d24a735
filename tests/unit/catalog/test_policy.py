"""Rule policy as tests: what every generated alert must carry, and CONTRACT section 3 coverage."""
from __future__ import annotations

import re

import pytest
import yaml
from prometheus_client import CollectorRegistry

from catalog import SEVERITIES, SOURCES, load_catalog, render_rule_files
from catalog.texts import value_template
from exporter.metrics import D75Metrics
from tests.support import paths
from vocabulary import PIPELINE_SOURCE

REPO = paths.REPO
CATALOG = load_catalog()
ALERTS = {a.name: a for a in CATALOG.alerts}

# CONTRACT section 3, row by row: source, alert, expected comparison and threshold ("-": none), for, severity
CONTRACT_TABLE = """
rate_limiter     RateLimitLow                < 0.20    0s  P2
rate_limiter     RateLimitHttp429            > 0       0s  P1
rate_limiter     RateLimitExhausted          > 0       0s  P2
exchange_health  ExchangeDegraded            -         0s  P2
exchange_health  ExchangeDown                -         0s  P1
exchange_health  ExchangeDownSustained       -         5m  P0
exchange_health  ExchangeFrozen              -         0s  P0
exchange_health  ExchangeLatencyHigh         > 0.5     5m  P2
exchange_health  ExchangeLatencyCritical     > 2       0s  P0
exchange_health  OrderbookLagging            > 5       0s  P2
exchange_health  OrderbookStale              > 10      0s  P0
exchange_health  ExchangeErrorRatioHigh      > 0.05    1m  P1
exchange_health  ExchangeErrorRatioCritical  > 0.10    0s  P0
arb_route        RouteScoreLow               < 50      0s  P2
arb_route        RouteScoreDrop              > 0.30    0s  P2
arb_universe     NoActiveRoutes              < 1       5m  P1
cross_sync       InventoryImbalanceHigh      > 0.5     0s  P2
cross_sync       TotalExposureHigh           > 0.8     0s  P1
cross_sync       RebalanceFailing            >= 3      0s  P1
cross_sync       InventorySyncFailing        > 0       0s  P2
risk_guard       ExchangeDailyLoss           > 10_000  0s  P1
risk_guard       RouteLossStreak             >= 3      0s  P2
risk_guard       RouteSpreadWide             > 500     0s  P2
risk_guard       SymbolExposureHigh          > 0.5     0s  P2
risk_guard       SymbolDrawdown              > 0.20    0s  P1
risk_guard       SymbolVolatilityHigh        > 0.1     0s  P2
risk_guard       GlobalDailyLoss             > 50_000  0s  P0
risk_guard       GlobalExposureHigh          > 100_000 0s  P0
risk_guard       GlobalImbalanceHigh         > 0.5     0s  P1
risk_guard       RiskGuardGlobalBlock        -         0s  P0
risk_guard       RiskGuardExchangeBlock      -         0s  P1
risk_guard       RiskGuardRouteBlock         -         0s  P2
risk_guard       RiskGuardSymbolBlock        -         0s  P2
system           ExporterDown                -         0s  P0
"""


def _row(line: str) -> tuple[str, str, tuple[str, float] | None, str, str]:
    source, name, *cmp, for_, severity = line.split()
    return source, name, (cmp[0], float(cmp[1])) if cmp != ["-"] else None, for_, severity


CONTRACT_ROWS = [_row(line) for line in CONTRACT_TABLE.strip().splitlines()]


@pytest.mark.parametrize("source,name,cmp,for_,severity", CONTRACT_ROWS, ids=[r[1] for r in CONTRACT_ROWS])
def test_every_contract_row_is_in_the_catalog(source, name, cmp, for_, severity):
    a = ALERTS[name]
    assert (a.source, a.for_, a.severity) == (source, for_, severity)
    if cmp is not None:
        assert (a.comparison, a.threshold) == cmp
        if name != "RouteScoreDrop":  # expressed as "score / 1m max < 0.7"
            assert f"{cmp[0]} {cmp[1]:g}" in a.expr


def test_catalog_size_and_p3_warnings():
    assert len(CATALOG.alerts) >= 31
    p3 = [a for a in CATALOG.alerts if a.severity == "P3"]
    assert len(p3) >= 3
    assert any(a.source == "system" and a.name != "Watchdog" for a in CATALOG.alerts)


def test_watchdog_is_always_firing_and_has_no_paging_severity():
    w = ALERTS["Watchdog"]
    assert w.expr == "vector(1)" and w.severity is None


def test_exporter_down_watches_only_the_bot_target():
    assert ALERTS["ExporterDown"].expr == 'up{job="d75"} == 0'


@pytest.mark.parametrize("alert", CATALOG.alerts, ids=lambda a: a.name)
def test_alert_has_what_operators_need(alert):
    assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", alert.name)
    assert alert.source in SOURCES
    assert alert.severity in SEVERITIES or alert.name == "Watchdog"
    assert alert.summary.strip() and "\n" not in alert.summary
    assert alert.description.strip()
    if alert.threshold is not None or alert.comparison == "==":
        # an alert on one state (`== 3`) always has that value: its name is written out (FROZEN)
        shown = value_template(alert.unit, alert.states, alert.expr)
        assert "$value" in alert.description or (alert.comparison == "==" and shown in alert.description), \
            "the description must show the current value"
    assert alert.runbook_url.endswith("/" + alert.runbook)
    page = REPO / "webhook_receiver" / "runbook_pages" / f"{alert.runbook}.md"
    assert page.is_file(), f"missing runbook {page}"
    text = page.read_text()
    assert f"# {alert.name}" in text and "## How to silence" in text


def test_rules_carry_severity_source_and_no_values_in_labels():
    for text in render_rule_files(CATALOG).values():
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                labels = rule["labels"]
                assert set(labels) == {"severity", "source"}, rule["alert"]
                assert not any("{{" in str(v) for v in labels.values()), "values belong in annotations"
                ann = rule["annotations"]
                needed = {"summary", "description", "runbook_url"} | (
                    {"value"} if rule["alert"] != "Watchdog" else set()
                )
                if labels["source"] == PIPELINE_SOURCE:
                    needed |= {"action"}  # the pipeline's alerts say what to do now
                assert needed <= set(ann) <= \
                    {"summary", "description", "action", "runbook_url", "value", "threshold", "graph"}, rule["alert"]
                if "threshold" in ann:
                    float(ann["threshold"])  # a plain number (graphs draw it)
                if rule["alert"] != "Watchdog":  # every alert says what to do and what explains it
                    assert ann["action"].strip() and "\n" not in ann["action"], rule["alert"]
                    assert ann["graph"], rule["alert"]


def _exposed_metric_names() -> set[str]:
    reg = CollectorRegistry()
    m = D75Metrics(registry=reg, data_dir=REPO)
    m.capital_usd.set(1)
    names: set[str] = set()
    for fam in reg.collect():
        for s in fam.samples:
            names.add(s.name)
        names.add(fam.name)
        if fam.type == "counter":
            names.add(fam.name + "_total")
    return names


# PromQL words that look like metric names but are functions/keywords
_PROMQL_WORDS = {"sum", "by", "on", "rate", "increase", "time", "max", "max_over_time", "group_left",
                 "changes", "vector", "and", "or", "unless", "without", "ignoring", "label_replace", "absent",
                 "count", "min"}

# what the pipeline's alerts read from Prometheus 2.42 and Alertmanager 0.25 themselves (the
# integration test tests/integration/catalog/test_pipeline_road.py finds each in a real stack)
SERVER_METRICS = {"alertmanager_cluster_members", "alertmanager_notifications_failed_total",
                  "prometheus_notifications_alertmanagers_discovered", "prometheus_notifications_dropped_total",
                  "prometheus_rule_evaluation_failures_total", "process_start_time_seconds"}


def _receiver_metric_names(tmp_path) -> set[str]:
    """Every series name a receiver with notifications on exposes on /metrics."""
    from webhook_receiver.app import create_app
    from webhook_receiver.settings import load_settings

    app = create_app(load_settings(env={"DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
                                        "NOTIFICATIONS_ENABLED": "true"}), start=False)
    try:
        text = app.test_client().get("/metrics").get_data(as_text=True)
    finally:
        from webhook_receiver.state import EXTENSION
        app.extensions[EXTENSION].store.close()
    return {line.split("{")[0].split()[0] for line in text.splitlines() if line and not line.startswith("#")}


def _metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: strip matchers, ranges and grouping clauses, then
    keep the identifiers that are not PromQL functions or keywords."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # string literals (label_replace arguments)
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", stripped)
    stripped = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", " ", stripped)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped))
    return words - _PROMQL_WORDS


def test_every_metric_a_rule_uses_is_exposed_by_the_exporter():
    exposed = _exposed_metric_names() | {"up"}
    for a in CATALOG.alerts:
        if a.source == PIPELINE_SOURCE:
            continue  # the pipeline's own pieces: next test
        used = _metric_names(a.expr)
        assert a.metric in used or a.name == "Watchdog", (a.name, used)
        unknown = used - exposed
        assert not unknown, f"{a.name} uses metrics the exporter does not expose: {unknown}"


def test_every_metric_a_pipeline_rule_uses_is_exposed_by_the_pipeline(tmp_path):
    exposed = _receiver_metric_names(tmp_path) | SERVER_METRICS | {"up"}
    assert {"d76_notifications_oldest_due_age_seconds", "d76_receiver_storage_up"} <= exposed
    pipeline = [a for a in CATALOG.alerts if a.source == PIPELINE_SOURCE]
    assert len(pipeline) >= 12
    for a in pipeline:
        used = _metric_names(a.expr)
        assert a.metric in used, (a.name, used)
        unknown = used - exposed
        assert not unknown, f"{a.name} uses metrics the pipeline does not expose: {unknown}"


def test_metric_name_parser_finds_names():
    assert _metric_names('sum by (job, instance) (rate(d75_x_total{a="b"}[1m])) / on (job) d75_y > 1') \
        == {"d75_x_total", "d75_y"}
    assert _metric_names('label_replace(d75_z{t="e"} == 3, "exchange", "$1", "scope", "(.+)")') == {"d75_z"}


def test_every_alert_about_one_exchange_carries_the_exchange_label():
    """An exchange's P0 inhibits its other alerts by `equal: [exchange]`: every alert that concerns
    one exchange must carry that label (the exchange-tier guard's scope is copied into it)."""
    from catalog.promql import METRIC_LABELS

    about_one = [a for a in CATALOG.alerts
                 if ("exchange" in METRIC_LABELS.get(a.metric, ()) and a.labels) or 'tier="exchange"' in a.expr]
    assert {"RateLimitHttp429", "InventorySyncFailing", "ExchangeDailyLoss", "RiskGuardExchangeBlock",
            "OrderbookStale"} <= {a.name for a in about_one}
    for a in about_one:
        assert "exchange" in a.labels, a.name
        # the promtool tests check that the rule really emits it
        assert a.probe is not None and a.probe.exp_labels.get("exchange"), a.name
    guard = ALERTS["RiskGuardExchangeBlock"]
    assert guard.probe.exp_labels["exchange"] == guard.probe.exp_labels["scope"]
