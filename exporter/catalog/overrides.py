"""Operator overrides: one YAML file changes thresholds, durations, severities and pipeline policy.

Example (`d76 generate --config overrides.yml`):

    alerts:
      ExchangeLatencyHigh: {threshold: 0.8, for: 2m}
      RouteScoreLow: {severity: P3}
      DataDiskLow: {enabled: false}
    policy:
      evaluation_interval: 1s
      severities:
        P2: {group_wait: 10s}

Structure is checked with a JSON schema; names and durations get explicit checks so every error
names the offending key (`alerts.ExchangeFrozen.severity: ...`).
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .model import CHANNELS, SEVERITIES, CatalogError, parse_duration

__all__ = ["load_overrides", "validate_overrides", "OVERRIDES_SCHEMA"]

_DURATION = {"type": "string"}
_SEVERITY_POLICY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "channels": {"type": "array", "items": {"enum": list(CHANNELS)}, "uniqueItems": True},
        "group_wait": _DURATION,
        "group_interval": _DURATION,
        "repeat_interval": _DURATION,
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
                "group_by": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "telegram_budget_total_per_minute": {"type": "integer", "minimum": 1},
                "severities": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {sev: _SEVERITY_POLICY for sev in SEVERITIES},
                },
            },
        },
    },
}

_DURATION_KEYS = ("for", "group_wait", "group_interval", "repeat_interval", "scrape_interval",
                  "evaluation_interval", "infra_scrape_interval", "watchdog_repeat_interval")


def _key(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def validate_overrides(data: Any, alert_names: list[str], source: str = "overrides") -> dict[str, Any]:
    """Return the overrides as a dict, or raise `CatalogError` naming the first bad key."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CatalogError(f"{source}: expected a mapping with 'alerts' and/or 'policy', got {type(data).__name__}")
    alerts = data.get("alerts")
    if isinstance(alerts, dict):
        for name in alerts:
            if name not in alert_names:
                hint = difflib.get_close_matches(str(name), alert_names, n=1)
                tip = f" (did you mean {hint[0]}?)" if hint else ""
                raise CatalogError(f"{source}: alerts.{name}: unknown alert{tip}")
    # durations first: "-5m" should say "negative", not "does not match a pattern"
    for path, value in _walk(data):
        if path and path[-1] in _DURATION_KEYS:
            parse_duration(value, f"{source}: {_key(path)}")
    errors = sorted(jsonschema.Draft202012Validator(OVERRIDES_SCHEMA).iter_errors(data),
                    key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        e = errors[0]
        path = list(e.absolute_path)
        if e.validator == "additionalProperties":
            allowed = sorted(e.schema.get("properties", {}))
            extra = sorted(set(e.instance) - set(allowed)) if isinstance(e.instance, dict) else []
            key = _key(path + extra[:1])
            raise CatalogError(f"{source}: {key}: unknown key (allowed here: {', '.join(allowed)})")
        if e.validator == "enum" and path and path[-1] == "severity":
            raise CatalogError(f"{source}: {_key(path)}: severity must be one of "
                               f"{', '.join(SEVERITIES)}, got {e.instance!r}")
        raise CatalogError(f"{source}: {_key(path)}: {e.message}")
    return data


def _walk(node: Any, path: tuple = ()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, path + (k,))
    yield path, node


def load_overrides(path: Path, alert_names: list[str]) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read override file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from None
    return validate_overrides(data, alert_names, source=str(path))
