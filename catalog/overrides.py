"""Operator overrides: one YAML file changes thresholds, durations, severities, texts and pipeline
policy, and adds the operator's own alerts.

Example (`d76 generate --config overrides.yml`):

    sources: [my_bot]                           # sources of the operator's own alerts, besides the built-in ones
    alerts:
      ExchangeLatencyHigh: {threshold: 0.8, for: 2m, by: {exchange: {upbit: 1.5, bithumb: 1.0}}}
      RouteScoreLow: {severity: P3}
      DataDiskLow: {enabled: false}
      ExchangeFrozen: {action: "Call the exchange's desk; the bot resumes by itself."}   # a text of ours
      VarLimitBreached:                         # an alert of the operator's own (catalog/custom.py)
        expr: my_bot_var_usd > {threshold}
        threshold: 50000
        for: 1m
        severity: P1
        source: my_bot
        summary: VaR over {threshold_text}
        description: "Value at risk is {value}."
        action: The bot halves position sizes; check the VaR model inputs.
        unit: usd
        test: {series: my_bot_var_usd, silent_at: 50000, fires_at: 60000}
    policy:
      external_url: https://alerts.example.com
      evaluation_interval: 1s
      severities:
        P2: {group_wait: 10s, quiet: true}      # quiet: Telegram sends without a sound
        P0: {remind_every: 5m}                  # unacknowledged: paged again (never: no reminders)
      telegram:
        routes:                                 # first match wins; unmatched: TELEGRAM_CHAT_ID
          - {severities: [P0], chat: "-1002000000001"}          # the on-call group
          - {severities: [P1, P2], topic_label: exchange, topics: {upbit: 11, binance: 12}}
      oncall:                                   # who is on call: mentioned in P0/P1 pages
        people: {alice: {telegram: "4242"}, bob: {telegram: "@bob"}}
        rotation: {order: [alice, bob], handoff: "mon 09:00", timezone: Asia/Seoul, length: 1w}
      maintenance:                              # recurring windows Alertmanager mutes
        - {name: upbit-weekly, match: {exchange: upbit}, weekdays: [thursday], times: ["10:00-10:30"],
           timezone: Asia/Seoul}
      escalation:                               # first matching chain; a step fires while unacknowledged
        - severities: [P0]
          steps:
            - {after: 10m, telegram: {chat: "-1001234", mention: ["4242", "@alice"]}}
            - {after: 20m, webhook: {url: "https://sms.example.com/hook"}}

Structure is checked with a JSON schema; names and durations get explicit checks so every error
names the offending key (`alerts.ExchangeFrozen.severity: ...`). Every problem is reported, not
only the first: `override_errors` returns them all, one line each (the semantic checks that need
the catalog, such as thresholds and `by` labels, are in `build.py`; an operator's own alerts in
`custom.py`). `alerts` may also be a list of entries, each with its `name` (`normalise_alerts`).
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .model import CHANNEL_ALIASES, CHANNELS, SEVERITIES, CatalogError, parse_duration

__all__ = ["load_overrides", "override_errors", "OVERRIDES_SCHEMA", "normalise_alerts", "UNITS", "CUSTOM_KEYS"]

_DURATION = {"type": "string"}
_TEXT = {"type": "string", "minLength": 1}
# how an operator's alert prints its value (`{value}`, the `value` annotation, its dashboard panel)
UNITS = ("", "ratio", "seconds", "usd", "count", "bytes", "bps")
# a promtool sample value held constant, promtool's series notation ("0+5x100"), or selector -> one of those
_SAMPLES = {"type": ["number", "string", "object"], "additionalProperties": {"type": ["number", "string"]}}
# keys only an operator's own alert has (a built-in alert's expression, source and labels are the catalog's)
CUSTOM_KEYS = ("expr", "source", "labels", "runbook", "unit", "test")
_SEVERITY_POLICY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "channels": {"type": "array", "items": {"enum": [*CHANNELS, *CHANNEL_ALIASES]}, "uniqueItems": True},
        "group_wait": _DURATION,
        "group_interval": _DURATION,
        "repeat_interval": _DURATION,
        "share_per_minute": {"type": "integer", "minimum": 0},
        "quiet": {"type": "boolean"},
        # a duration or "never"; checked by the receiver's own validator (build.py)
        "remind_every": {"type": "string"},
        # earlier name of share_per_minute (when shares were caps)
        "telegram_budget_per_minute": {"type": "integer", "minimum": 0},
    },
}
OVERRIDES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "alerts": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "threshold": {"type": "number"},
                    # per-label thresholds: {label: {value: threshold}}; label checked in build.py
                    "by": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "additionalProperties": {"type": "number"},
                        },
                    },
                    "for": _DURATION,
                    "severity": {"enum": list(SEVERITIES)},
                    "enabled": {"type": "boolean"},
                    # texts (Go templates with the catalog's placeholders), of a built-in alert or one's own
                    "summary": _TEXT,
                    "description": _TEXT,
                    "action": _TEXT,
                    # an alert of the operator's own (checked in custom.py)
                    "expr": _TEXT,
                    "source": {"type": "string"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "runbook": _TEXT,
                    "unit": {"enum": list(UNITS)},
                    "test": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["silent_at", "fires_at"],
                        "properties": {"series": _TEXT, "silent_at": _SAMPLES, "fires_at": _SAMPLES},
                    },
                },
            },
        },
        "sources": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "policy": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "scrape_interval": _DURATION,
                "evaluation_interval": _DURATION,
                "infra_scrape_interval": _DURATION,
                "watchdog_repeat_interval": _DURATION,
                "runbook_base_url": {"type": "string", "minLength": 1},
                "external_url": {"type": "string", "minLength": 1},
                "group_by": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                # no longer used (Telegram's own limits are the budget); accepted so old files still load
                "telegram_budget_total_per_minute": {"type": "integer", "minimum": 1},
                "severities": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {sev: _SEVERITY_POLICY for sev in SEVERITIES},
                },
                # routes are checked by the receiver's own validator (build.py), which names each key
                "telegram": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"routes": {"type": "array"}},
                },
                # on call and maintenance windows: the receiver's validators check the inside (build.py)
                "oncall": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"people": {"type": "object"}, "rotation": {"type": "object"},
                                   "overrides": {"type": "array"}},
                },
                "maintenance": {"type": "array"},
                # escalation chains are checked by the receiver's own validator (build.py), which names each key
                "escalation": {"type": "array"},
            },
        },
    },
}

_DURATION_KEYS = ("for", "group_wait", "group_interval", "repeat_interval", "scrape_interval",
                  "evaluation_interval", "infra_scrape_interval", "watchdog_repeat_interval")


def _key(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def override_errors(data: Any, alert_names: list[str], source: str = "overrides") -> list[str]:
    """Every structural problem of an override document, one line each naming its key."""
    if data is None:
        return []
    if not isinstance(data, dict):
        return [f"{source}: expected a mapping with 'alerts' and/or 'policy', got {type(data).__name__}"]
    errors: list[str] = []
    unknown: set[str] = set()
    alerts = data.get("alerts")
    if isinstance(alerts, dict):
        for name, entry in alerts.items():
            if name not in alert_names and not (isinstance(entry, dict) and "expr" in entry):
                unknown.add(str(name))
                hint = difflib.get_close_matches(str(name), alert_names, n=1)
                tip = (f" (did you mean {hint[0]}?)" if hint else
                       " (an alert of your own needs expr, severity, source, summary, description and action)")
                errors.append(f"{source}: alerts.{name}: unknown alert{tip}")
    # durations first: "-5m" should say "negative", not "does not match a pattern"
    for path, value in _walk(data):
        if path and path[-1] in _DURATION_KEYS and not _under_unknown(path, unknown):
            try:
                parse_duration(value, f"{source}: {_key(path)}")
            except CatalogError as exc:
                errors.extend(exc.errors)
    for e in sorted(jsonschema.Draft202012Validator(OVERRIDES_SCHEMA).iter_errors(data),
                    key=lambda e: list(map(str, e.absolute_path))):
        path = list(e.absolute_path)
        if _under_unknown(path, unknown):
            continue  # the unknown alert is the error; its contents are not worth a line each
        if path and path[-1] in _DURATION_KEYS and e.validator == "type":
            continue  # already reported by parse_duration
        if e.validator == "additionalProperties":
            allowed = sorted(e.schema.get("properties", {}))
            extra = sorted(set(e.instance) - set(allowed)) if isinstance(e.instance, dict) else []
            for key in extra or [None]:
                errors.append(f"{source}: {_key(path + ([key] if key is not None else []))}: unknown key "
                              f"(allowed here: {', '.join(allowed)})")
        elif e.validator == "enum" and path and path[-1] == "severity":
            errors.append(f"{source}: {_key(path)}: severity must be one of "
                          f"{', '.join(SEVERITIES)}, got {e.instance!r}")
        else:
            errors.append(f"{source}: {_key(path)}: {e.message}")
    return errors


def normalise_alerts(data: Any, source: str = "overrides") -> tuple[Any, list[str]]:
    """The document with a list of `alerts` (entries with a `name`) turned into the mapping form
    (name -> entry), and the problems of the list (a missing or repeated name), one line each."""
    if not isinstance(data, dict) or not isinstance(data.get("alerts"), list):
        return data, []
    errors: list[str] = []
    mapping: dict[str, Any] = {}
    first: dict[str, int] = {}
    for n, entry in enumerate(data["alerts"]):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(entry, dict):
            errors.append(f"{source}: alerts[{n}]: expected a mapping with a name, got {type(entry).__name__}")
        elif not isinstance(name, str) or not name:
            errors.append(f"{source}: alerts[{n}].name: every entry of the alerts list needs a name")
        elif name in first:
            errors.append(f"{source}: alerts[{n}].name: {name} is also alerts[{first[name]}]")
        else:
            first[name] = n
            mapping[name] = {k: v for k, v in entry.items() if k != "name"}
    return {**data, "alerts": mapping}, errors


def _under_unknown(path: Any, unknown: set[str]) -> bool:
    return len(path) >= 2 and path[0] == "alerts" and str(path[1]) in unknown


def _walk(node: Any, path: tuple = ()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, path + (k,))
    yield path, node


def load_overrides(path: Path) -> Any:
    """The parsed override file, unchecked: `build_catalog` checks it (`override_errors` and its own
    semantic checks) so structural and semantic problems are reported together."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read override file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from None
    return data
