"""Build the rendered `Catalog` from the defaults plus an optional override file."""
from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import vocabulary

from .custom import custom_specs, declared_sources
from .defaults import DEFAULT_SPECS
from .model import (
    CHANNEL_ALIASES,
    CHANNELS,
    SEVERITIES,
    SOURCES,
    AlertDef,
    AlertSpec,
    Catalog,
    CatalogError,
    CatalogSettings,
    LabelThreshold,
    SeverityPolicy,
)
from .overrides import load_overrides, normalise_alerts, override_errors
from .promql import add_matcher, eq_matcher, not_in_matcher
from .schedules import maintenance_windows, oncall_document, schedule_errors
from .texts import GRAPH_UNITS, context_line, graph_json, static_value, value_template

__all__ = ["load_catalog", "build_catalog", "DEFAULT_SEVERITY_POLICY", "fmt_num", "value_template",
           "WATCHDOG"]

# CONTRACT section 4. Discord is not listed: when DISCORD_WEBHOOK_URL is set it mirrors Telegram.
DEFAULT_SEVERITY_POLICY: dict[str, SeverityPolicy] = {
    "P0": SeverityPolicy(["telegram"], "0s", "10s", "5m", 10, remind_every="5m"),
    "P1": SeverityPolicy(["telegram", "slack"], "5s", "1m", "30m", 5, remind_every="30m"),
    "P2": SeverityPolicy(["telegram", "slack"], "30s", "2m", "1h", 3, quiet=True),
    "P3": SeverityPolicy(["email"], "5m", "30m", "24h", 1, quiet=True),
}
# labels a Telegram route may match or pick topics by, besides the alerts' identifying labels
ROUTE_LABELS = ("alertname", "severity", "source", "job", "instance")
# accepted in override files written for earlier versions, meaning what they meant then
LEGACY_POLICY_KEYS = {"telegram_budget_per_minute": "share_per_minute"}

WATCHDOG = AlertDef(
    name=vocabulary.WATCHDOG, source="system", severity=None, expr="vector(1)", for_="0s", threshold=None,
    comparison=None, metric="", labels=[],
    summary="Alerting pipeline heartbeat",
    description="Always firing. If it stops arriving at the receiver, Prometheus, Alertmanager or the "
                "link between them is broken; the receiver's dead man's switch then pages (P0).",
    runbook="watchdog", runbook_url="", unit="",
    meaning="Not a problem: this alert always fires. Its absence is the problem, detected by the "
            "receiver's dead man's switch.",
    checks=("If the receiver reports the pipeline down: is Prometheus up and evaluating rules? "
            "Is Alertmanager up? Can Alertmanager reach the receiver (token, URL)?",),
)

_PLACEHOLDER = re.compile(r"\{(threshold|threshold_pct|threshold_usd|threshold_bytes|threshold_text|keep|for|value|"
                          r"label:[a-zA-Z_][a-zA-Z0-9_]*|limit:[A-Za-z][A-Za-z0-9_]*)\}")
# alert name -> (threshold, unit) of every alert after overrides: `{limit:NAME}` prints NAME's threshold
Limits = dict[str, tuple[float | None, str]]


def fmt_num(x: float) -> str:
    """A number as PromQL and people read it: no exponent for ordinary magnitudes, no trailing zeros."""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return "%.10g" % x


def _fmt_bytes(x: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(x) >= size:
            return f"{fmt_num(round(x / size, 3))} {unit}"
    return f"{fmt_num(x)} B"


def _fill(text: str, spec: AlertSpec, threshold: float | None, for_: str, limits: Limits | None = None,
          key: str = "") -> str:
    """`text` with the catalog's placeholders filled in (`key`: where the text came from, for errors)."""
    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name.startswith("label:"):
            return "{{ $labels.%s }}" % name[6:]
        if name == "value":
            return value_template(spec.unit, spec.states, spec.expr)
        if name == "for":
            return for_
        if name.startswith("limit:"):
            limit, unit = (limits or {}).get(name[6:], (None, ""))
            if limit is None:
                raise CatalogError(f"{key or 'alerts.' + spec.name}: {{{name}}} names no alert with a threshold")
            return static_value(limit, unit)
        if threshold is None:
            raise CatalogError(f"{key or 'alerts.' + spec.name}: template uses {{{name}}} but the alert has no "
                               "threshold")
        if name == "threshold":
            return fmt_num(threshold)
        if name == "threshold_text":
            return static_value(threshold, spec.unit)
        if name == "threshold_pct":
            return fmt_num(round(threshold * 100, 6))
        if name == "threshold_usd":
            return f"{threshold:,.0f}"
        if name == "threshold_bytes":
            return _fmt_bytes(threshold)
        return fmt_num(round(1 - threshold, 10))  # keep
    return _PLACEHOLDER.sub(sub, text)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _threshold_errors(spec: AlertSpec, value: Any, key: str) -> list[str]:
    """Range checks of one threshold value (its type was checked by the schema)."""
    if not _is_number(value):
        return []
    t = float(value)
    if spec.unit == "ratio" and not 0 <= t <= 1:
        return [f"{key}: a ratio between 0 and 1, got {value!r}"]
    if spec.unit in ("usd", "seconds", "count", "bps", "bytes", "score") and t < 0:
        return [f"{key}: must not be negative, got {value!r}"]
    return []


def _alert_errors(spec: AlertSpec, ov: dict[str, Any], source: str) -> list[str]:
    """Semantic checks of one alert's override (thresholds, `by` labels); all problems, not the first."""
    key = f"{source}: alerts.{spec.name}"
    errors: list[str] = []
    if "threshold" in ov:
        if spec.threshold is None:
            errors.append(f"{key}.threshold: {spec.name} has no adjustable threshold "
                          "(it matches a fixed status value); change its severity or for instead")
        else:
            errors += _threshold_errors(spec, ov["threshold"], f"{key}.threshold")
    by = ov.get("by")
    if isinstance(by, dict):
        if spec.threshold is None:
            errors.append(f"{key}.by: {spec.name} has no adjustable threshold, so no per-label thresholds")
            return errors
        if len(by) > 1:
            errors.append(f"{key}.by: one label per alert, got {', '.join(map(str, by))}")
        for label, values in by.items():
            if label not in spec.labels:
                has = f"its labels: {', '.join(spec.labels)}" if spec.labels else "it has no identifying labels"
                errors.append(f"{key}.by.{label}: unknown label for {spec.name} ({has})")
                continue
            if isinstance(values, dict):
                if not values:
                    errors.append(f"{key}.by.{label}: give at least one value, e.g. {{upbit: 1.5}}")
                for value, threshold in values.items():
                    if not isinstance(value, str) or not value or any(c in value for c in '"\\\n'):
                        errors.append(f"{key}.by.{label}.{value}: a label value must be a non-empty string "
                                      "without quotes, backslashes or newlines")
                        continue
                    errors += _threshold_errors(spec, threshold, f"{key}.by.{label}.{value}")
    return errors


def _external_url_errors(policy: dict[str, Any], source: str) -> list[str]:
    url = policy.get("external_url")
    if not isinstance(url, str):
        return []
    parts = urlsplit(url)
    if (parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment
            or any(c.isspace() for c in url)):
        return [f"{source}: policy.external_url: an http(s) base URL like https://alerts.example.com "
                f"(no query or fragment), got {url!r}"]
    return []


def _telegram_errors(policy: dict[str, Any], source: str, own: Sequence[AlertSpec] = ()) -> list[str]:
    """`policy.telegram.routes`: the receiver's own checks, plus label names no alert carries."""
    from webhook_receiver.notify.channel_map import route_errors

    tg = policy.get("telegram")
    routes = tg.get("routes") if isinstance(tg, dict) else None
    key = "policy.telegram.routes"
    errors = [f"{source}: {e}" for e in route_errors(routes, key)]
    if errors or not isinstance(routes, list):
        return errors
    known = _known_labels(own)
    for n, r in enumerate(routes):
        named = [(f"{key}[{n}].topic_label", r.get("topic_label"))] if r.get("topic_label") else []
        named += [(f"{key}[{n}].match.{lab}", lab) for lab in (r.get("match") or {})]
        for where, lab in named:
            if lab not in known:
                hint = difflib.get_close_matches(lab, known, n=1)
                errors.append(f"{source}: {where}: no alert carries the label {lab!r}"
                              + (f" (did you mean {hint[0]}?)" if hint else f" (labels: {', '.join(known)})"))
    return errors


def _known_labels(own: Sequence[AlertSpec] = ()) -> list[str]:
    """Labels a route or a window may match: the alerts' identifying labels (the operator's own alerts'
    included) and the common ones."""
    return sorted({lab for s in DEFAULT_SPECS for lab in s.labels} | set(ROUTE_LABELS)
                  | {lab for s in own if s.custom for lab in s.custom.labels})


def _followup_errors(policy: dict[str, Any], source: str, own: Sequence[AlertSpec] = ()) -> list[str]:
    """`policy.severities.<P>.remind_every` and `policy.escalation`: the receiver's own checks (it
    reads them from the channel map), plus label names no alert carries."""
    from webhook_receiver.notify.escalation import escalation_errors, remind_every_errors

    errors = []
    sevs = policy.get("severities")
    for sev, spec in (sevs.items() if isinstance(sevs, dict) else ()):
        if isinstance(spec, dict) and isinstance(spec.get("remind_every"), str):  # other types: the schema says
            errors += remind_every_errors(spec["remind_every"], f"{source}: policy.severities.{sev}.remind_every")
    chains = policy.get("escalation")
    key = "policy.escalation"
    found = [f"{source}: {e}" for e in escalation_errors(chains, key, CHANNELS)]
    if found or not isinstance(chains, list):
        return errors + found
    known = _known_labels(own)
    for n, chain in enumerate(chains):
        for lab in chain.get("match") or {}:
            if lab not in known:
                hint = difflib.get_close_matches(lab, known, n=1)
                errors.append(f"{source}: {key}[{n}].match.{lab}: no alert carries the label {lab!r}"
                              + (f" (did you mean {hint[0]}?)" if hint else f" (labels: {', '.join(known)})"))
    return errors


def _with_matcher(expr: str, label: str, matcher: str, name: str) -> str:
    out, n = add_matcher(expr, label, matcher)
    if not n:  # a catalog bug (the label comes from no selector), not an operator mistake
        raise CatalogError(f"alerts.{name}.by.{label}: no selector in the expression carries {label!r}")
    return out


TEXT_KEYS = ("summary", "description", "action")


def _graph(spec: AlertSpec, threshold: float | None, for_: str, limits: Limits) -> str:
    """The `graph` annotation: the spec's series with their thresholds (`own`: the one that applied)."""
    entries = []
    for g in spec.graph:
        t = threshold if g.threshold == "own" else limits.get(g.threshold, (None, ""))[0] if g.threshold else None
        if g.threshold and g.threshold != "own" and g.threshold not in limits:
            raise CatalogError(f"alerts.{spec.name}.graph: {g.threshold} is not an alert of the catalog")
        entries.append({"title": _fill(g.title, spec, threshold, for_, limits),
                        "expr": _fill(g.expr, spec, threshold, for_, limits),
                        "unit": GRAPH_UNITS.get(g.unit, ""), "threshold": t,
                        "states": {str(i): name for i, name in enumerate(g.states)} if g.states else None})
    return graph_json(entries) if entries else ""


def _texts(spec: AlertSpec, ov: dict[str, Any], threshold: float | None, for_: str, limits: Limits,
           source: str) -> tuple[str, str, str]:
    """summary, description (with its "Now:" context line) and action, the override file's where it gives them."""
    out = []
    for k in TEXT_KEYS:
        written = ov.get(k)
        text = written if isinstance(written, str) else getattr(spec, k)
        if k == "description" and spec.now and not isinstance(written, str):
            text += "\n" + context_line(f"{spec.now} {{value}}", spec.context)
        out.append(_fill(text, spec, threshold, for_, limits,
                         key=f"{source}: alerts.{spec.name}.{k}" if isinstance(written, str) else ""))
    return out[0], out[1], out[2]


def _render(spec: AlertSpec, ov: dict[str, Any], settings: CatalogSettings, limits: Limits,
            source: str = "overrides") -> AlertDef:
    threshold = float(ov["threshold"]) if "threshold" in ov else spec.threshold
    for_ = ov.get("for", spec.for_)
    severity = ov.get("severity", spec.severity)
    slug = re.sub(r"(?<!^)(?=[A-Z])", "-", spec.name).lower()
    expr = _fill(spec.expr, spec, threshold, for_, limits, key=f"{source}: alerts.{spec.name}.expr")
    by: list[LabelThreshold] = []
    for label, values in (ov.get("by") or {}).items():
        for value, t in values.items():
            summary, description, action = _texts(spec, ov, float(t), for_, limits, source)
            by.append(LabelThreshold(
                label=label, value=value, threshold=float(t),
                expr=_with_matcher(_fill(spec.expr, spec, float(t), for_, limits), label, eq_matcher(label, value),
                                   spec.name),
                summary=summary, description=description, action=action,
                graph=_graph(spec, float(t), for_, limits)))
        if values:  # the default rule: every value without a threshold of its own
            expr = _with_matcher(expr, label, not_in_matcher(label, list(values)), spec.name)
    summary, description, action = _texts(spec, ov, threshold, for_, limits, source)
    custom = spec.custom
    return AlertDef(
        name=spec.name, source=spec.source, severity=severity,
        expr=expr, for_=for_, threshold=threshold,
        comparison=spec.comparison, metric=spec.metric, labels=list(spec.labels),
        summary=summary, description=description,
        runbook=slug, runbook_url=settings.runbook_base_url + slug, unit=spec.unit,
        enabled=ov.get("enabled", True), meaning=spec.meaning, checks=spec.checks, probe=spec.probe,
        by=tuple(by), action=action, graph=_graph(spec, threshold, for_, limits), states=spec.states,
        context=spec.context, own_texts=custom is not None or any(isinstance(ov.get(k), str) for k in TEXT_KEYS),
        custom=custom, static_labels=dict(custom.labels) if custom else {},
    )


def _check_specs(specs: tuple[AlertSpec, ...]) -> None:
    seen: set[str] = set()
    for s in specs:
        if s.name in seen:
            raise CatalogError(f"alerts.{s.name}: defined twice")
        seen.add(s.name)
        if s.source not in SOURCES:
            raise CatalogError(f"alerts.{s.name}.source: unknown source {s.source!r}")
        if s.severity not in SEVERITIES:
            raise CatalogError(f"alerts.{s.name}.severity: {s.severity!r} is not one of P0-P3")


def _settings(policy: dict[str, Any], runbook_base_url: str | None = None) -> CatalogSettings:
    fields: dict[str, Any] = {k: (tuple(v) if k == "group_by" else v) for k, v in policy.items()
              if k not in ("severities", "telegram", "oncall", "maintenance", "escalation",
                           "telegram_budget_total_per_minute")}  # the last: no longer used
    if runbook_base_url and not fields.get("external_url"):
        # the deployment's own default (a local stack: its receiver's real port); the file still wins
        fields.setdefault("runbook_base_url", runbook_base_url)
    if fields.get("external_url"):
        fields["external_url"] = fields["external_url"].rstrip("/")
        # links a phone can open: the receiver serves the runbooks under its public URL
        fields.setdefault("runbook_base_url", fields["external_url"] + "/runbooks/")
    settings = CatalogSettings(**fields)
    if not settings.runbook_base_url.endswith("/"):
        settings = replace(settings, runbook_base_url=settings.runbook_base_url + "/")
    return settings


def build_catalog(overrides: dict[str, Any] | None = None, *, source: str = "overrides",
                  runbook_base_url: str | None = None) -> Catalog:
    """The catalog with `overrides` applied; `CatalogError` listing every problem otherwise.

    `runbook_base_url` replaces the default runbook base (`vocabulary.DEFAULT_RUNBOOK_BASE_URL`) when the
    overrides set neither `policy.runbook_base_url` nor `policy.external_url`: a local stack passes
    its receiver's real address."""
    names = [s.name for s in DEFAULT_SPECS] + [WATCHDOG.name]
    _check_specs(DEFAULT_SPECS)
    overrides, errors = normalise_alerts(overrides, source)
    errors += override_errors(overrides, names, source)
    alert_ov = _section(overrides, "alerts")
    policy = _section(overrides, "policy")
    sources, source_errors = declared_sources(overrides, source)
    errors += source_errors
    own, own_errors, notes = custom_specs(alert_ov, set(names), sources, source)
    errors += own_errors
    if alert_ov.get(WATCHDOG.name):
        errors.append(f"{source}: alerts.{WATCHDOG.name}: the heartbeat cannot be changed "
                      "(the receiver's dead man's switch depends on it)")
    for spec in DEFAULT_SPECS:
        if isinstance(alert_ov.get(spec.name), dict):
            errors += _alert_errors(spec, alert_ov[spec.name], source)
    errors += _external_url_errors(policy, source)
    errors += _telegram_errors(policy, source, own)
    errors += _followup_errors(policy, source, own)
    errors += schedule_errors(policy, source, _known_labels(own), {e.split(": ", 2)[1] for e in errors if ": " in e})
    specs = (*DEFAULT_SPECS, *own)
    limits: Limits = {spec.name: (float(ov["threshold"]) if _is_number((ov := _section(alert_ov, spec.name))
                                                                       .get("threshold")) else spec.threshold,
                                  spec.unit) for spec in specs}
    for spec in specs:
        errors += _placeholder_errors(spec, _section(alert_ov, spec.name), limits, source)
    if errors:
        raise CatalogError(sorted(dict.fromkeys(errors)))
    settings = _settings(policy, runbook_base_url)
    sev_policy = {sev: replace(p, **_severity_override((policy.get("severities") or {}).get(sev, {})))
                  for sev, p in DEFAULT_SEVERITY_POLICY.items()}
    alerts = [_render(spec, alert_ov.get(spec.name, {}), settings, limits, source) for spec in specs]
    alerts.append(replace(WATCHDOG, runbook_url=settings.runbook_base_url + WATCHDOG.runbook))
    tg = _section(policy, "telegram")
    unused = [s for s in sources if not any(a.source == s for a in alerts)]
    notes += [f"{source}: sources: {s} is declared but no alert uses it" for s in unused]
    return Catalog(alerts=alerts, severity_policy=sev_policy,
                   settings=settings, override_file=None if source == "overrides" else source,
                   telegram_routes=tuple(dict(r) for r in tg.get("routes") or ()),
                   oncall=oncall_document(policy), maintenance=maintenance_windows(policy),
                   sources=(*SOURCES, *sources), notes=tuple(notes),
                   escalation=tuple(dict(c) for c in policy.get("escalation") or ()))


def _placeholder_errors(spec: AlertSpec, ov: dict[str, Any], limits: Limits, source: str) -> list[str]:
    """Placeholders the operator's texts (and own `expr`) use that the alert cannot fill, one line each."""
    threshold = float(ov["threshold"]) if _is_number(ov.get("threshold")) else spec.threshold
    keys = [k for k in TEXT_KEYS if isinstance(ov.get(k), str)] + (["expr"] if spec.custom is not None else [])
    errors: list[str] = []
    for k in keys:
        text = ov.get(k) if k in TEXT_KEYS else spec.expr
        try:
            _fill(str(text), spec, threshold, "0s", limits, key=f"{source}: alerts.{spec.name}.{k}")
        except CatalogError as exc:
            errors += exc.errors
    return errors


def _section(parent: object, key: str) -> dict[str, Any]:
    """``parent[key]`` when both are mappings (the schema has checked them), else an empty one."""
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, dict) else {}


def _severity_override(ov: dict[str, Any]) -> dict[str, Any]:
    """An override's severity policy in today's names (legacy keys and channel names mapped)."""
    out = {LEGACY_POLICY_KEYS.get(k, k): v for k, v in ov.items()}
    if "channels" in out:
        out["channels"] = [CHANNEL_ALIASES.get(c, c) for c in out["channels"]]
    return out


def load_catalog(override_file: Path | str | None = None, *, runbook_base_url: str | None = None) -> Catalog:
    """The default catalog, or the defaults with an operator's override file applied
    (`runbook_base_url`: see `build_catalog`)."""
    if override_file is None:
        return build_catalog(None, runbook_base_url=runbook_base_url)
    return build_catalog(load_overrides(Path(override_file)), source=str(override_file),
                         runbook_base_url=runbook_base_url)
