"""Operator overrides: one YAML file changes thresholds, durations, severities and pipeline policy.

Example (`d76 generate --config overrides.yml`):

    alerts:
      ExchangeLatencyHigh: {threshold: 0.8, for: 2m, by: {exchange: {upbit: 1.5, bithumb: 1.0}}}
      RouteScoreLow: {severity: P3}
      DataDiskLow: {enabled: false}
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
      escalation:                               # first matching chain; a step fires while unacknowledged
        - severities: [P0]
          steps:
            - {after: 10m, telegram: {chat: "-1001234", mention: ["4242", "@alice"]}}
            - {after: 20m, webhook: {url: "https://sms.example.com/hook"}}

Structure is checked with a JSON schema; names and durations get explicit checks so every error
names the offending key (`alerts.ExchangeFrozen.severity: ...`). Every problem is reported, not
only the first: `override_errors` returns them all, one line each (the semantic checks that need
the catalog, such as thresholds and `by` labels, are in `build.py`).
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .model import CHANNEL_ALIASES, CHANNELS, SEVERITIES, CatalogError, parse_duration

__all__ = ["load_overrides", "override_errors", "OVERRIDES_SCHEMA"]

_DURATION = {"type": "string"}
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
                },
            },
        },
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
        for name in alerts:
            if name not in alert_names:
                unknown.add(str(name))
                hint = difflib.get_close_matches(str(name), alert_names, n=1)
                tip = f" (did you mean {hint[0]}?)" if hint else ""
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
