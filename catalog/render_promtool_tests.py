"""promtool unit tests for every alert, generated from each alert's `Probe` (`prometheus/tests/`).

For each alert three tests run against the generated rule file:
  at-threshold   the probe's `at` level held for the whole test: nothing fires;
  past-threshold the `past` level: still silent one evaluation before `for` elapses, firing after it,
                 with the exact labels and annotations (summary, description with the value, runbook);
  resolve        `past`, then back to `calm`: nothing fires at the end.
The expected annotations are rendered here from the Go templates with `render_go_template`, which
knows only the few template functions the catalog uses (anything else is an error), so promtool
checks our texts and values too.

An alert with per-label thresholds (`by: {exchange: {upbit: 1.5}}`) gets the three tests for the
default rule on a value without a threshold of its own, the same three for each special value at
its own threshold (its series relabelled), and two tests with both series at once: the special
value silent at its threshold while the other fires past the default, and the reverse.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from vocabulary import WATCHDOG, WATCHDOG_SEVERITY

from . import gotemplate
from .build import fmt_num
from .gotemplate import Sample
from .model import AlertDef, Catalog, CatalogError, Probe
from .render_prometheus import annotations_for, dump_yaml, header

__all__ = ["render_promtool_tests", "render_go_template", "SAMPLE_INTERVAL"]

SAMPLE_INTERVAL = 15  # seconds between input samples and between rule evaluations
_PRE = 4              # samples before the change for `drop` and `step` probes



def render_go_template(text: str, labels: dict[str, str], value: float,
                       queries: Mapping[str, Sequence[Sample]] | None = None) -> str:
    """Render an annotation as Prometheus would for an alert with `labels` and `value` (`queries`: what
    each `query` returns); `CatalogError` for a construct the test renderer does not know."""
    try:
        return gotemplate.render(text, labels, value, queries)
    except gotemplate.TemplateError as exc:
        raise CatalogError(f"template not supported by the test renderer ({exc}): {text!r}") from None


def _segments(probe: Probe, phases: list[tuple[float, int]]) -> dict[str, str]:
    """Input series (selector -> promtool values) for consecutive phases of (level, samples)."""
    out: dict[str, list[str]] = {}
    cum: dict[str, float] = {}
    i = 0  # sample index (time = 15 s * i)

    def add(sel: str, seg: str) -> None:
        out.setdefault(sel, []).append(seg)

    if probe.kind == "counter":
        for sel in probe.series(phases[0][0]):
            add(sel, "0")
            cum[sel] = 0.0
        i = 1
    if probe.kind in ("drop", "step"):
        for sel in probe.series(phases[0][0]):
            add(sel, f"{fmt_num(probe.base)}x{_PRE - 1}")
        i = _PRE
    for level, n in phases:
        for sel, v in probe.series(level).items():
            if probe.kind == "counter":
                start = cum[sel] + v
                add(sel, f"{fmt_num(round(start, 6))}+{fmt_num(v)}x{n - 1}")
                cum[sel] = round(cum[sel] + v * n, 6)
            elif probe.kind == "age":
                add(sel, f"{fmt_num(SAMPLE_INTERVAL * i - v)}+{SAMPLE_INTERVAL}x{n - 1}")
            elif probe.kind == "step":
                add(sel, f"{fmt_num(probe.base + v)}x{n - 1}")
            else:
                add(sel, f"{fmt_num(v)}x{n - 1}")
        i += n
    for sel, (kind, v) in probe.context.items():  # held from the first sample to the last
        if kind == "counter":
            add(sel, f"0+{fmt_num(v)}x{i - 1}")
        elif kind == "age":
            add(sel, f"{fmt_num(-v)}+{SAMPLE_INTERVAL}x{i - 1}")
        else:
            add(sel, f"{fmt_num(v)}x{i - 1}")
    series = {sel: " ".join(segs) for sel, segs in out.items()}
    series.update({sel: f"{fmt_num(v)}x{i - 1}" for sel, v in probe.constant.items()})
    return series


def _prefix_samples(probe: Probe) -> int:
    """Samples `_segments` puts before the first phase."""
    return {"counter": 1, "drop": _PRE, "step": _PRE}.get(probe.kind, 0)


def _onset(probe: Probe) -> int:
    """Seconds from the start until the condition first holds."""
    return {"counter": SAMPLE_INTERVAL, "drop": _PRE * SAMPLE_INTERVAL,
            "step": _PRE * SAMPLE_INTERVAL}.get(probe.kind, 0)


def _samples(seconds: float) -> int:
    return int(math.ceil(seconds / SAMPLE_INTERVAL)) + 1


def _dur(seconds: float) -> str:
    return f"{int(seconds)}s"


def _input(series: dict[str, str]) -> list[dict[str, str]]:
    return [{"series": sel, "values": vals} for sel, vals in series.items()]


def _relabel(probe: Probe, label: str, new: str) -> Probe:
    """The probe with its series (and expected labels) moved to `label=new`."""
    old = probe.exp_labels.get(label)
    if old is None:
        raise CatalogError(f"probe has no {label!r} label to give a per-label threshold test")
    if old == new:
        return probe
    before, after = f'{label}="{old}"', f'{label}="{new}"'
    series = probe.series
    return replace(probe, series=lambda v: {sel.replace(before, after): x for sel, x in series(v).items()},
                   exp_labels={**probe.exp_labels, label: new},
                   # context series name the value under other labels too (a guard's `scope`)
                   context={sel.replace(f'="{old}"', f'="{new}"'): x for sel, x in probe.context.items()})


def _queries(a: AlertDef, p: Probe, level: float) -> dict[str, list[Sample]]:
    """What each context query of the alert returns when the probe is at `level` (its context series
    are held for the whole test)."""
    out: dict[str, list[Sample]] = {}
    ctxs = list(a.context) + [c.of for c in a.context if c.of is not None]
    for c in ctxs:
        v = p.context_values.get(c.name)
        v = v(level) if callable(v) else v
        out[c.query_text(p.exp_labels)] = [] if v is None else [Sample({}, float(v))]
    return out


# annotations that are Go templates (rendered by Prometheus); the others are plain text
TEMPLATED = ("summary", "description", "action", "value", "graph")


def _firing(a: AlertDef, p: Probe, level: float, *, absent: bool = False) -> dict[str, Any]:
    """The alert as promtool must see it; `absent`: fired by `absent()` (its labels, value 1)."""
    series_labels = dict(p.absent_labels or {}) if absent else p.exp_labels
    labels = {**series_labels, **a.static_labels, "severity": a.severity or WATCHDOG_SEVERITY, "source": a.source}
    value = 1.0 if absent else p.value_for(level)
    template = annotations_for(a, a.summary, a.description, a.threshold)
    queries = _queries(a, p, level)
    return {
        "exp_labels": labels,
        "exp_annotations": {k: render_go_template(v, series_labels, value, queries) if k in TEMPLATED else v
                            for k, v in template.items()},
    }


def _fire_at(a: AlertDef, p: Probe) -> int:
    f = a.for_seconds
    if p.rising:
        return int(_onset(p) + p.settle_seconds + f + SAMPLE_INTERVAL)
    return int(_onset(p) + (max(f, p.settle_seconds) + SAMPLE_INTERVAL if f
                            else max(p.settle_seconds, SAMPLE_INTERVAL)))


Check = dict[str, dict[str, Any]]   # {"alert_rule_test" or "promql_expr_test": one entry}


def _silent(a: AlertDef, eval_time: int) -> Check:
    return {"alert_rule_test": {"eval_time": _dur(eval_time), "alertname": a.name, "exp_alerts": []}}


def _alerts_check(a: AlertDef, labels: dict[str, str], eval_time: int) -> Check:
    """A check on the ALERTS series promtool writes: `a` fires with (at least) `labels`."""
    matchers = ",".join(f"{k}={gotemplate.go_quote(v)}" for k, v in
                        {"alertname": a.name, "alertstate": "firing", **labels}.items())
    return {"promql_expr_test": {"expr": f"count(ALERTS{{{matchers}}}) > bool 0", "eval_time": _dur(eval_time),
                                 "exp_samples": [{"labels": "{}", "value": 1}]}}


def _fires(a: AlertDef, p: Probe, level: float, eval_time: int) -> Check:
    """A check that `a` fires at `eval_time` with its exact labels and rendered annotations; when the
    operator wrote a text the renderer cannot reproduce, that it fires with its labels (ALERTS)."""
    try:
        return {"alert_rule_test": {"eval_time": _dur(eval_time), "alertname": a.name,
                                    "exp_alerts": [_firing(a, p, level)]}}
    except CatalogError:
        if not a.own_texts:
            raise
        labels = {**p.exp_labels, **a.static_labels, "severity": a.severity or WATCHDOG_SEVERITY, "source": a.source}
        return _alerts_check(a, labels, eval_time)


def _test(name: str, series: dict[str, str], checks: list[Check]) -> dict[str, Any]:
    test: dict[str, Any] = {"name": name, "interval": _dur(SAMPLE_INTERVAL), "input_series": _input(series)}
    for kind in ("alert_rule_test", "promql_expr_test"):
        entries = [c[kind] for c in checks if kind in c]
        if entries or kind == "alert_rule_test":
            test[kind] = entries
    return test


def _by_tests(a: AlertDef) -> list[dict[str, Any]]:
    """Tests of an alert with per-label thresholds (see the module docstring)."""
    assert a.probe is not None and a.by_label is not None
    label = a.by_label
    special = {b.value for b in a.by}
    other = a.probe.exp_labels.get(label, "other")
    n = 1
    while other in special:
        other, n = f"other{n if n > 1 else ''}", n + 1
    default = replace(a, probe=_relabel(a.probe, label, other), by=())
    tests = _tests_for(default, suffix=f" ({label}={other}, default threshold)")
    for b in a.by:
        view = replace(a, threshold=b.threshold, summary=b.summary, description=b.description, action=b.action,
                       graph=b.graph, probe=_relabel(a.probe, label, b.value), by=())
        tests += _tests_for(view, suffix=f" ({label}={b.value}, own threshold)")
        ps, pd = view.probe, default.probe
        assert ps is not None and pd is not None
        total = _fire_at(view, ps) + 60
        for quiet, loud, quiet_t, loud_t, what in (
                (ps, pd, b.threshold, a.threshold, f"{b.value} silent at its own threshold, {other} past the default"),
                (pd, ps, a.threshold, b.threshold, f"{b.value} past its own threshold, {other} silent at the default")):
            loud_view = view if loud is ps else default
            series = {**_segments(quiet, [(quiet.at(quiet_t), _samples(total))]),
                      **_segments(loud, [(loud.past(loud_t), _samples(total))])}
            tests.append(_test(f"{a.name}: {what}", series,
                               [_fires(loud_view, loud, loud.past(loud_t), _fire_at(a, ps))]))
    return tests


def _tests_for(a: AlertDef, suffix: str = "") -> list[dict[str, Any]]:
    if a.by:
        return _by_tests(a)
    p = a.probe
    if p is None:
        raise CatalogError(f"alerts.{a.name}: no probe, cannot generate its promtool test")
    t = a.threshold
    at, past, calm = p.at(t), p.past(t), p.calm(t)
    onset = _onset(p)
    f = a.for_seconds
    fire_at = _fire_at(a, p)
    total = fire_at + 60
    tests: list[dict[str, Any]] = []
    what = f"{a.comparison} {fmt_num(t)}" if t is not None else "condition"
    tests.append(_test(f"{a.name}: silent at {fmt_num(at)} ({what}){suffix}",
                       _segments(p, [(at, _samples(total))]), [_silent(a, fire_at)]))
    checks: list[Check] = []
    if f > SAMPLE_INTERVAL:  # still pending one evaluation before `for` elapses
        checks.append(_silent(a, onset + int(f) - SAMPLE_INTERVAL))
    checks.append(_fires(a, p, past, fire_at))
    tests.append(_test(f"{a.name}: fires at {fmt_num(past)}" + (f" after {a.for_}" if f else "") + suffix,
                       _segments(p, [(past, _samples(total))]), checks))
    # resolve: hold `past` until it fires, then return to calm long enough for every window to empty
    pre = _prefix_samples(p)
    hold = fire_at // SAMPLE_INTERVAL - pre + 1
    if p.kind == "step":  # a restart cannot be undone: `changes()` forgets it once out of its 15m window
        end = onset + 900 + 2 * SAMPLE_INTERVAL
        phases = [(past, end // SAMPLE_INTERVAL - pre + 1)]
    else:
        back = _samples(p.settle_seconds + f + 120)
        phases = [(past, hold), (calm, back)]
        end = (pre + hold + back - 1) * SAMPLE_INTERVAL
    tests.append(_test(f"{a.name}: resolves when the value returns to {fmt_num(calm)}{suffix}",
                       _segments(p, phases), [_fires(a, p, past, fire_at), _silent(a, end)]))
    if p.absent_labels is not None:
        # no watched series at all (the target vanished from the configuration): fires after `for`
        absent_at = int(f + SAMPLE_INTERVAL)
        quiet = [_silent(a, int(f - SAMPLE_INTERVAL))] if f >= SAMPLE_INTERVAL else []
        fired: Check = {"alert_rule_test": {"eval_time": _dur(absent_at), "alertname": a.name,
                                            "exp_alerts": [_firing(a, p, 0.0, absent=True)]}}
        tests.append(_test(f"{a.name}: fires when the series is absent" + (f" for {a.for_}" if f else "") + suffix,
                           {sel: f"{fmt_num(v)}x{_samples(absent_at + 60) - 1}" for sel, v in p.constant.items()},
                           [*quiet, fired]))
    return tests


# the scaffold of an operator's own alert holds its test values this long past `for` before checking it fires
CUSTOM_SETTLE = 300


def _custom_series(values: dict[str, str], samples: int) -> dict[str, str]:
    """An operator's test values as promtool series: a number held for `samples`, notation as written."""
    out = {}
    for sel, v in values.items():
        try:
            out[sel] = f"{fmt_num(float(v))}x{samples - 1}"
        except ValueError:
            out[sel] = v
    return out


def _custom_tests(a: AlertDef) -> list[dict[str, Any]]:
    """The scaffold of an operator's own alert (catalog/custom.py says what it checks and what not)."""
    assert a.custom is not None
    f = int(a.for_seconds)
    fire_at = f + CUSTOM_SETTLE
    tests: list[dict[str, Any]] = []
    if not any(fn in a.expr for fn in ("absent", "vector(")):  # these fire without series by design
        tests.append(_test(f"{a.name}: loads, silent without its series", {}, [_silent(a, fire_at)]))
    if a.custom.firing:
        labels = {**a.static_labels, "severity": a.severity or WATCHDOG_SEVERITY, "source": a.source}
        samples = _samples(fire_at + 60)
        tests.append(_test(f"{a.name}: silent at test.silent_at", _custom_series(a.custom.silent, samples),
                           [_silent(a, fire_at)]))
        checks = [_silent(a, f - SAMPLE_INTERVAL)] if f > SAMPLE_INTERVAL else []
        checks.append(_alerts_check(a, labels, fire_at))
        tests.append(_test(f"{a.name}: fires at test.fires_at" + (f" after {a.for_}" if f else ""),
                           _custom_series(a.custom.firing, samples), checks))
    return tests


def _watchdog_tests(a: AlertDef) -> list[dict[str, Any]]:
    return [{
        "name": f"{WATCHDOG}: always firing",
        "interval": _dur(SAMPLE_INTERVAL),
        "input_series": [],
        "alert_rule_test": [{"eval_time": "5m", "alertname": a.name, "exp_alerts": [{
            "exp_labels": {"severity": WATCHDOG_SEVERITY, "source": a.source},
            "exp_annotations": annotations_for(a, a.summary, a.description, None)}]}],
    }]


def render_promtool_tests(catalog: Catalog, rule_files: dict[str, str]) -> dict[str, str]:
    """File name under prometheus/tests/ -> promtool test YAML, one per rule file."""
    out: dict[str, str] = {}
    for fname in rule_files:
        source = fname[len("d75-"):-len(".yml")].replace("-", "_")
        tests: list[dict[str, Any]] = []
        for a in catalog.enabled_alerts:
            if a.source != source:
                continue
            if a.name == WATCHDOG:
                tests += _watchdog_tests(a)
            elif a.custom is not None:
                tests += _custom_tests(a)
            else:
                tests += _tests_for(a)
        doc = {"rule_files": [f"../rules/{fname}"], "evaluation_interval": _dur(SAMPLE_INTERVAL),
               "tests": tests}
        out[fname.replace(".yml", "_test.yml")] = header(catalog) + dump_yaml(doc)
    return out
