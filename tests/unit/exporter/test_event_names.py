"""Severity and source of an event: the seeds' enums, their names in any spelling, the log levels;
anything else refused with the accepted words (property-based)."""
from __future__ import annotations

import re
from enum import Enum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.event_names import (
    SEVERITY_ALIASES,
    SOURCE_ALIASES,
    AlertSeverity,
    AlertSource,
    EventError,
    parse_severity,
    parse_source,
)
from vocabulary import SEVERITIES, SOURCES

LOG_LEVELS = {"critical": "P0", "error": "P1", "warning": "P2", "info": "P3"}
SEED_SOURCES = {"HEALTH_MONITOR": "exchange_health", "RATE_LIMITER": "rate_limiter", "ARB_ROUTE": "arb_route",
                "ARB_UNIVERSE": "arb_universe", "CROSS_SYNC": "cross_sync", "RISK_GUARD": "risk_guard",
                "SYSTEM_MONITOR": "system", "EXCHANGE_HEALTH": "exchange_health", "SYSTEM": "system",
                "PIPELINE": "pipeline"}


class RiskLayerSeverity(str, Enum):  # noqa: UP042 - as the risk layer seed writes its enum (lowercase values)
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class PlainSource(Enum):  # someone else's enum with non-string values
    HealthMonitor = 1


def test_the_seeds_enums_and_their_members():
    assert [s.value for s in AlertSeverity] == list(SEVERITIES)
    assert AlertSeverity.CRITICAL is AlertSeverity.P0 and AlertSeverity.INFO is AlertSeverity.P3
    assert {s.value for s in AlertSource} == set(SOURCES)
    for name, source in SEED_SOURCES.items():
        assert AlertSource[name].value == source
        assert parse_source(AlertSource[name]) == source
    for sev in AlertSeverity:
        assert parse_severity(sev) == sev.value == str(sev)


def test_log_levels_and_other_enums():
    for level, sev in LOG_LEVELS.items():
        assert parse_severity(level) == parse_severity(level.upper()) == sev
        assert parse_severity(RiskLayerSeverity(level)) == sev
    assert parse_source(PlainSource.HealthMonitor) == "exchange_health"  # by its name
    with pytest.raises(EventError, match="debug messages are log lines"):
        parse_severity(RiskLayerSeverity.DEBUG)


def _respell(word: str, data: st.DataObject) -> str:
    """`HEALTH_MONITOR` as someone might write it: any case, `_`/`-`/space/nothing between the parts,
    CamelCase, blanks around, or the enum's `Class.MEMBER` string."""
    parts = [p for p in re.split(r"[_\s-]+", word) if p]
    sep = data.draw(st.sampled_from(["_", "-", " ", ""]))
    style = data.draw(st.sampled_from(["lower", "upper", "camel", "asis"]))
    if style == "camel":
        text = "".join(p[:1].upper() + p[1:].lower() for p in parts)
    else:
        text = sep.join(p.lower() if style == "lower" else p.upper() if style == "upper" else p for p in parts)
    text = data.draw(st.sampled_from(["", "AlertSource.", "AlertSeverity."])) + text
    return data.draw(st.sampled_from(["", " "])) + text + data.draw(st.sampled_from(["", " ", "\n"]))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_spelling_of_a_known_severity(data):
    word, expected = data.draw(st.sampled_from([*[(s, s) for s in SEVERITIES], *LOG_LEVELS.items(),
                                                ("warn", "P2")]))
    assert parse_severity(_respell(word, data)) == expected


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_spelling_of_a_known_source(data):
    word, expected = data.draw(st.sampled_from([*[(s, s) for s in SOURCES], *SEED_SOURCES.items()]))
    assert parse_source(_respell(word, data)) == expected


def _unknown(aliases: dict[str, str]) -> st.SearchStrategy[str]:
    return st.text(max_size=30).filter(lambda t: re.sub(r"[^a-z0-9]", "", t.rsplit(".", 1)[-1].lower())
                                       not in aliases)


@settings(max_examples=400, deadline=None)
@given(_unknown(SEVERITY_ALIASES))
def test_nonsense_severity_is_refused_naming_what_is_accepted(text):
    with pytest.raises(EventError, match=r"^severity must be one of P0, P1, P2, P3"):
        parse_severity(text)


@settings(max_examples=400, deadline=None)
@given(_unknown(SOURCE_ALIASES))
def test_nonsense_source_is_refused_naming_what_is_accepted(text):
    with pytest.raises(EventError, match=r"^source must be one of rate_limiter, "):
        parse_source(text)


@pytest.mark.parametrize("value", [None, 0, 3, 1.5, b"P0", ["P0"], {"severity": "P0"}, object()])
def test_values_that_are_not_text_are_refused(value):
    with pytest.raises(EventError):
        parse_severity(value)
    with pytest.raises(EventError):
        parse_source(value)
