"""The operator's own alerts (`alerts.NAME` entries with an `expr` in the override file).

Each becomes an `AlertSpec` like a built-in one, so it gets everything a built-in alert gets: its
rule (in the rule file of its `source`), a promtool test scaffold, a runbook page, its route (severity
routing is by label), a dashboard panel and the `graph` annotation. What the catalog cannot know about
it, it does not pretend to:

* the texts are the operator's (Go templates with the catalog's placeholders, `{threshold}`,
  `{value}`, `{label:NAME}` ...); promtool checks that they parse, not what they render;
* the promtool scaffold always checks that the rule loads and stays silent while none of its series
  exist. With `test: {series, silent_at, fires_at}` (or `silent_at`/`fires_at` as selector -> value
  mappings) it also checks the alert stays silent on the first input and fires, with its severity,
  source and labels, after `for` on the second: a misspelt metric in `expr` then fails the test in
  `d76 generate --check`. Without `test` a misspelt metric is only caught when it starts with `d75_`
  (checked against the exporter's metric table here).

`expr` of the form `LHS OP NUMBER` (or `OP {threshold}`) is drawn as LHS with the threshold line on the
dashboard and in the `graph` annotation; any other `expr` is drawn as its firing alerts.
"""
from __future__ import annotations

import difflib
import re
from typing import Any

from vocabulary import SOURCES

from .model import AlertSpec, CustomTest
from .overrides import CUSTOM_KEYS
from .promql import METRIC_LABELS
from .texts import Graph

__all__ = ["custom_specs", "declared_sources", "CUSTOM_REQUIRED", "comparison_of"]

CUSTOM_REQUIRED = ("expr", "severity", "source", "summary", "description", "action")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_SOURCE = re.compile(r"^[a-z][a-z0-9_]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SELECTOR = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?$", re.S)
_RESERVED_LABELS = ("alertname", "severity", "source")
# LHS OP RHS at the top level of an expression; RHS a number or the {threshold} placeholder
_COMPARISON = re.compile(r"^(?P<lhs>.*\S)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<rhs>\{threshold\}|[-+]?(?:\d+\.?\d*|\.\d+)"
                         r"(?:[eE][-+]?\d+)?)\s*$", re.S)
_D75_METRIC = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|(?<![A-Za-z0-9_:])(d75_[A-Za-z0-9_:]*)')


def declared_sources(data: Any, source: str) -> tuple[tuple[str, ...], list[str]]:
    """The override file's `sources:` (besides the built-in ones), and their problems."""
    declared = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(declared, list):
        return (), []
    errors, out = [], []
    for n, name in enumerate(declared):
        if not isinstance(name, str) or not _SOURCE.match(name):
            errors.append(f"{source}: sources[{n}]: a source is a lower-case name like my_bot "
                          f"(letters, digits, _), got {name!r}")
        elif name not in SOURCES and name not in out:
            out.append(name)
    return tuple(out), errors


def _balanced(text: str) -> bool:
    depth = 0
    for ch in re.sub(r'"(?:[^"\\]|\\.)*"', "", text):
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def comparison_of(expr: str) -> tuple[str, str, str] | None:
    """(LHS, operator, RHS) when `expr` is one comparison of something with a number or `{threshold}`."""
    m = _COMPARISON.match(expr.strip())
    if not m or not _balanced(m.group("lhs")):
        return None
    if re.search(r"\b(and|or|unless)\b", re.sub(r'"(?:[^"\\]|\\.)*"', "", m.group("lhs"))):
        return None
    return m.group("lhs"), m.group("op"), m.group("rhs")


def _samples(value: Any, key: str, errors: list[str]) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        errors.append(f"{key}: a number or promtool series values such as '0+5x100', got {value!r}")
        return ""
    return str(value)


def _test(entry: dict[str, Any], key: str, errors: list[str]) -> CustomTest:
    labels = {k: v for k, v in (entry.get("labels") or {}).items() if isinstance(v, str)}
    test = entry.get("test")
    if not isinstance(test, dict) or "silent_at" not in test or "fires_at" not in test:
        return CustomTest(labels=labels)
    states: dict[str, dict[str, str]] = {}
    series = test.get("series")
    for phase in ("silent_at", "fires_at"):
        value = test[phase]
        where = f"{key}.test.{phase}"
        if isinstance(series, str):
            if isinstance(value, dict):
                errors.append(f"{where}: with test.series, one value (a number or promtool series values)")
                continue
            states[phase] = {series: _samples(value, where, errors)}
        elif isinstance(value, dict) and value:
            states[phase] = {str(sel): _samples(v, f"{where}.{sel}", errors) for sel, v in value.items()}
        else:
            errors.append(f"{where}: give test.series and a value, or a mapping of series selectors to values")
            continue
        for sel in states[phase]:
            if not _SELECTOR.match(sel):
                errors.append(f"{where}: {sel!r} is not a series selector like my_metric{{desk=\"a\"}}")
    return CustomTest(silent=states.get("silent_at", {}), firing=states.get("fires_at", {}), labels=labels)


def _graph(name: str, expr: str, unit: str, threshold: Any) -> tuple[Graph, ...]:
    cmp = comparison_of(expr)
    if cmp is None:
        return (Graph(f"{name} firing", f"ALERTS{{alertname='{name}',alertstate='firing'}}"),)
    lhs, _op, _rhs = cmp
    return (Graph(name, lhs, unit, "own" if threshold is not None else None),)


def _errors(name: str, entry: dict[str, Any], key: str, sources: tuple[str, ...]) -> list[str]:
    errors: list[str] = []
    if not _NAME.match(name):
        errors.append(f"{key}: an alert name is letters, digits and _ starting with a letter, got {name!r}")
    for k in CUSTOM_REQUIRED:
        if k not in entry:
            errors.append(f"{key}.{k}: required for an alert of your own ({', '.join(CUSTOM_REQUIRED)}; "
                          "for, labels, runbook, unit, threshold and test are optional)")
    if "by" in entry:
        errors.append(f"{key}.by: per-label thresholds are for the built-in alerts; write the label into expr")
    src = entry.get("source")
    if isinstance(src, str) and src not in SOURCES and src not in sources:
        hint = difflib.get_close_matches(src, [*SOURCES, *sources], n=1)
        errors.append(f"{key}.source: unknown source {src!r}: a built-in one ({', '.join(SOURCES)}) or one declared "
                      "in the top-level sources list" + (f" (did you mean {hint[0]}?)" if hint else ""))
    for label in entry.get("labels") or {}:
        if not _LABEL.match(str(label)) or str(label).startswith("__"):
            errors.append(f"{key}.labels.{label}: not a Prometheus label name")
        elif label in _RESERVED_LABELS:
            errors.append(f"{key}.labels.{label}: set by the catalog ({', '.join(_RESERVED_LABELS)})")
    expr = entry.get("expr")
    if isinstance(expr, str):
        known = sorted(n for n in METRIC_LABELS if n.startswith("d75_"))
        for m in _D75_METRIC.finditer(expr):
            metric = m.group(1)
            if metric and metric not in METRIC_LABELS and not metric.endswith(("_bucket", "_sum", "_count")):
                hint = difflib.get_close_matches(metric, known, n=1)
                errors.append(f"{key}.expr: unknown metric {metric}: the exporter has no such d75_ metric"
                              + (f" (did you mean {hint[0]}?)" if hint else ""))
    return errors


def custom_specs(alerts: dict[str, Any], builtin: set[str], sources: tuple[str, ...],
                 source: str) -> tuple[list[AlertSpec], list[str], list[str]]:
    """The operator's own alerts as specs; every problem (naming its key); notes for the operator."""
    specs: list[AlertSpec] = []
    errors: list[str] = []
    notes: list[str] = []
    for name, entry in alerts.items():
        if not isinstance(entry, dict):
            continue
        key = f"{source}: alerts.{name}"
        if name in builtin:
            for k in CUSTOM_KEYS:
                if k in entry:
                    errors.append(f"{key}.{k}: {name} is a built-in alert: its {k} is the catalog's (to watch "
                                  "something else, set enabled: false and add an alert of your own)")
            continue
        if "expr" not in entry:
            continue  # an unknown alert: reported by override_errors
        errs = _errors(str(name), entry, key, sources)
        test = _test(entry, key, errs)
        errors += errs
        if any(k not in entry for k in CUSTOM_REQUIRED) or not isinstance(entry["expr"], str):
            continue  # reported; the others are built so their texts' placeholders are checked too
        expr, threshold, unit = entry["expr"], entry.get("threshold"), entry.get("unit", "")
        cmp = comparison_of(expr)
        if not isinstance(threshold, (int, float)) or isinstance(threshold, bool):
            threshold = None                 # a wrong type: reported by the schema
        if threshold is None and cmp is not None and cmp[2] != "{threshold}":
            threshold = float(cmp[2])        # `x > 5`: 5 is its threshold (annotation, lines)
        if not test.firing:
            notes.append(f"{key}: no test: its promtool scaffold only checks that the rule loads and stays silent "
                         "without its series (add test: {series, silent_at, fires_at} to check that it fires)")
        specs.append(AlertSpec(
            name=str(name), source=entry["source"], severity=entry["severity"], expr=expr,
            summary=entry["summary"], description=entry["description"], action=entry["action"],
            metric="", labels=(),
            threshold=None if threshold is None else float(threshold), comparison=cmp[1] if cmp else None,
            for_=entry.get("for", "0s"), unit=unit, meaning=str(entry.get("runbook", "")).strip(),
            graph=_graph(str(name), expr, unit, threshold), custom=test,
        ))
    return specs, errors, notes
