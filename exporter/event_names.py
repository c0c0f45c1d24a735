"""The words an event is sent with: the seeds' `AlertSeverity` and `AlertSource`, and how any spelling
of them becomes the contract's severity (`P0`..`P3`) and source (`vocabulary.SOURCES`).

    send_alert(severity=AlertSeverity.P0, source=AlertSource.HEALTH_MONITOR, title=..., message=...)

Accepted for a severity, case-insensitively:

| given | severity |
|---|---|
| `AlertSeverity.P0` / `"P0"` / `"p0"`, and the log levels `CRITICAL` / `"critical"` | P0 |
| `AlertSeverity.P1` / `"P1"` / `ERROR` / `"error"` | P1 |
| `AlertSeverity.P2` / `"P2"` / `WARNING` / `"warning"` / `"warn"` | P2 |
| `AlertSeverity.P3` / `"P3"` / `INFO` / `"info"` | P3 |

Any other enum whose name or value is one of those (the risk layer's `AlertSeverity.CRITICAL`
with value `"critical"`) is read the same way. `debug` is refused (a debug message is a log line,
not an alert), as is anything else: `EventError` naming what is accepted.

Sources, written any way (`HealthMonitor`, `health_monitor`, `HEALTH_MONITOR`, `health-monitor`):
the contract's own (`rate_limiter`, `exchange_health`, `arb_route`, `arb_universe`, `cross_sync`,
`risk_guard`, `system`, `pipeline`) and the seeds' names for them: `HEALTH_MONITOR` (the seeds'
ExchangeHealth monitor) -> `exchange_health`, `SYSTEM_MONITOR` (the seeds' SystemMonitor) -> `system`.
"""
from __future__ import annotations

import re
from enum import Enum, StrEnum

from vocabulary import PIPELINE_SOURCE, SEVERITIES, SOURCES

__all__ = ["AlertSeverity", "AlertSource", "EventError", "parse_severity", "parse_source", "SEVERITY_ALIASES",
           "SOURCE_ALIASES"]


class EventError(ValueError):
    """An event that cannot be sent as given (bad severity, source, title or metadata)."""


class AlertSeverity(StrEnum):
    """The seeds' severities; the log-level names are aliases of the same members."""

    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    CRITICAL = "P0"
    ERROR = "P1"
    WARNING = "P2"
    INFO = "P3"


class AlertSource(StrEnum):
    """The contract's sources, plus the seeds' names for two of them (aliases)."""

    RATE_LIMITER = "rate_limiter"
    EXCHANGE_HEALTH = "exchange_health"
    ARB_ROUTE = "arb_route"
    ARB_UNIVERSE = "arb_universe"
    CROSS_SYNC = "cross_sync"
    RISK_GUARD = "risk_guard"
    SYSTEM = "system"
    PIPELINE = PIPELINE_SOURCE
    HEALTH_MONITOR = "exchange_health"   # the seeds' ExchangeHealth HealthMonitor
    SYSTEM_MONITOR = "system"            # the seeds' SystemMonitor


assert tuple(AlertSeverity) == tuple(AlertSeverity(s) for s in SEVERITIES)
assert {s.value for s in AlertSource} == set(SOURCES)

_NON_ALNUM = re.compile(r"[^a-z0-9]")


def _key(text: str) -> str:
    """`Health-Monitor`, `HEALTH_MONITOR`, `AlertSource.HEALTH_MONITOR` -> `healthmonitor`."""
    return _NON_ALNUM.sub("", text.strip().rsplit(".", 1)[-1].lower())


SEVERITY_ALIASES: dict[str, str] = {
    **{_key(s): s for s in SEVERITIES},
    "critical": "P0", "crit": "P0", "fatal": "P0",
    "error": "P1", "err": "P1",
    "warning": "P2", "warn": "P2",
    "info": "P3", "information": "P3", "informational": "P3",
}
SOURCE_ALIASES: dict[str, str] = {
    **{_key(s): s for s in SOURCES},
    **{_key(m.name): m.value for m in AlertSource.__members__.values()},
    **{_key(name): m.value for name, m in AlertSource.__members__.items()},
}


def _spellings(value: object) -> list[str]:
    """The texts to look up: an enum's value and name, or the string itself."""
    if isinstance(value, Enum):
        return [str(value.value), value.name] if isinstance(value.value, str) else [value.name]
    if isinstance(value, str):
        return [value]
    return []


def parse_severity(value: object) -> str:
    """`P0`..`P3` for any accepted spelling (module docstring); `EventError` otherwise."""
    for text in _spellings(value):
        found = SEVERITY_ALIASES.get(_key(text))
        if found:
            return found
    hint = " (debug messages are log lines, not alerts)" if any(_key(t) == "debug" for t in _spellings(value)) else ""
    raise EventError(f"severity must be one of {', '.join(SEVERITIES)} (or AlertSeverity, or critical, error, "
                     f"warning, info), got {value!r}{hint}")


def parse_source(value: object) -> str:
    """A contract source for any accepted spelling (module docstring); `EventError` otherwise."""
    for text in _spellings(value):
        found = SOURCE_ALIASES.get(_key(text))
        if found:
            return found
    raise EventError(f"source must be one of {', '.join(SOURCES)} (or AlertSource, e.g. HEALTH_MONITOR), "
                     f"got {value!r}")
