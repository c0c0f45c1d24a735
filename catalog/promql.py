"""Small, safe edits of the catalog's PromQL text: label matchers on the selectors of one label.

Per-label thresholds (`by: {exchange: {upbit: 1.5}}`) turn one rule into several: one per special
value (`d75_exchange_rest_latency_seconds{exchange="upbit"} > 1.5`) and the default rule, which
excludes those values (`{exchange!~"upbit|bithumb"} > 0.5`). The matcher goes on every selector
of a metric that carries the label (`d75_route_score / max_over_time(d75_route_score[1m])` gets it
twice; `d75_capital_usd` in a ratio does not carry `symbol` and is left alone).

Only the catalog's own expressions are edited, so a light scanner is enough: selectors are metric
names (known from the exporter's metric table) optionally followed by `{...}`.
"""
from __future__ import annotations

import re

from exporter.metrics import CONTRACT_METRICS

__all__ = ["METRIC_LABELS", "add_matcher", "eq_matcher", "not_in_matcher", "quote", "regex_escape"]

# metric name -> label names: the contract metrics plus the exporter's own system metrics
METRIC_LABELS: dict[str, tuple[str, ...]] = {
    **{name: labels for name, (_type, labels) in CONTRACT_METRICS.items()},
    "d75_data_disk_free_ratio": ("path",),
    "d75_exporter_hook_errors_total": ("hook",),
    # the pipeline's own alerts (catalog/pipeline_alerts.py): the receiver's, Alertmanager's and
    # Prometheus' metrics they read, so per-label thresholds work on them too
    "d76_notifications_oldest_due_age_seconds": ("channel", "severity"),
    "d76_notifications_failed_total": ("channel", "kind"),
    "d76_notifications_rate_limited_total": ("channel",),
    "alertmanager_notifications_failed_total": ("integration",),
    "prometheus_rule_evaluation_failures_total": ("rule_group",),
}

# a string literal (left alone: label_replace arguments), or a selector: a name and its matchers
_TOKEN = re.compile(r'(?P<string>"(?:[^"\\]|\\.)*")'
                    r'|(?<![A-Za-z0-9_:])(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)'
                    r'(?P<matchers>\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})?')
_REGEX_SPECIAL = set("\\.+*?()|[]{}^$")


def quote(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def regex_escape(value: str) -> str:
    """`value` as a literal inside an RE2 regular expression."""
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in value)


def eq_matcher(label: str, value: str) -> str:
    return f"{label}={quote(value)}"


def not_in_matcher(label: str, values: list[str]) -> str:
    return f"{label}!~{quote('|'.join(regex_escape(v) for v in values))}"


def add_matcher(expr: str, label: str, matcher: str) -> tuple[str, int]:
    """`expr` with `matcher` added to every selector of a metric carrying `label`; and how many.

    Names inside string literals (label_replace arguments) are never touched."""
    count = 0

    def sub(m: re.Match) -> str:
        nonlocal count
        name, matchers = m.group("name"), m.group("matchers")
        if name is None or label not in METRIC_LABELS.get(name, ()):
            return m.group(0)
        count += 1
        inner = (matchers or "{}")[1:-1].strip().rstrip(",").strip()
        return f"{name}{{{inner}, {matcher}}}" if inner else f"{name}{{{matcher}}}"

    return _TOKEN.sub(sub, expr), count
