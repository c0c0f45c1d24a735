"""The reminders and escalation sections of the channel map (and of the catalog's override file):
typed when right, every problem named by its key when wrong; any input is either parsed or refused
with errors, never an exception (hypothesis)."""
from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook_receiver.notify.channel_map import parse_channel_map
from webhook_receiver.notify.escalation import (
    DEFAULT_REMIND_EVERY,
    EscalationPolicy,
    escalation_errors,
    parse_escalation,
    parse_prometheus_duration,
    parse_remind_every,
    remind_every_errors,
    webhook_key,
)

CHANNELS = ("discord", "email", "slack", "telegram", "webhook")
GOOD = [
    {"severities": ["P0"], "match": {"exchange": "upbit"}, "steps": [
        {"after": "10m", "telegram": {"chat": "-1001234", "thread": 12, "mention": ["4242", "@alice", "oncall"]}},
        {"after": "20m", "webhook": {"url": "https://sms.example.com/hook?key=s3cret"}, "slack": True,
         "email": {"to": ["oncall@example.com"]}}]},
    {"steps": [{"after": "1h", "telegram": True, "discord": {}}]},
]


def test_a_good_section_is_typed() -> None:
    policy = parse_escalation(GOOD, channels=CHANNELS)
    assert isinstance(policy, EscalationPolicy) and len(policy.chains) == 2
    first = policy.chains[0]
    assert first.matches("P0", {"exchange": "upbit"}) and not first.matches("P0", {"exchange": "okx"})
    assert not first.matches("P1", {"exchange": "upbit"})
    assert [s.after for s in first.steps] == [600.0, 1200.0]
    tg = first.steps[0].telegram
    assert tg is not None and (tg.chat, tg.thread, tg.mentions) == ("-1001234", 12, ("4242", "@alice", "oncall"))
    assert first.steps[1].channels == {"slack": {}, "email": {"to": ["oncall@example.com"]}}
    assert policy.chain_for("P1", {}) == (1, policy.chains[1])  # the first that matches
    assert policy.telegram_chats() == ("-1001234",)
    url = "https://sms.example.com/hook?key=s3cret"
    assert policy.webhook_urls() == {webhook_key(url): url}
    detail = first.steps[1].detail()
    assert detail["webhook"] == webhook_key(url) and "s3cret" not in str(detail)  # a key, not the URL


def test_every_problem_is_named_by_its_key_at_once() -> None:
    bad: Any = [
        {"severities": ["P9"], "match": {"bad-label": 1}, "steps": [
            {"after": "soon", "telegram": {"chat": "general", "thread": 0, "mention": ["alice", 12.5]}},
            {"after": "5m"},
            {"after": "5m", "webhook": {"url": "ftp://x"}, "pager": True, "email": {"to": ["not-an-address"]}}]},
        {"steps": []},
        "chain",
        {"severity": ["P0"], "steps": [{"after": "1m", "slack": "yes"}]},
    ]
    errors = escalation_errors(bad, "policy.escalation", CHANNELS)
    for key in ("policy.escalation[0].severities: 'P9'", "policy.escalation[0].match.bad-label: not a label name",
                "policy.escalation[0].match.bad-label: the value must be a non-empty string",
                "policy.escalation[0].steps[0].after", "policy.escalation[0].steps[0].telegram.chat",
                "policy.escalation[0].steps[0].telegram.thread", "policy.escalation[0].steps[0].telegram.mention[0]",
                "policy.escalation[0].steps[0].telegram.mention[1]",
                "policy.escalation[0].steps[1]: says where to tell",
                "policy.escalation[0].steps[2].pager: unknown key", "policy.escalation[0].steps[2].webhook.url",
                "policy.escalation[0].steps[2].email.to[0]", "policy.escalation[1].steps: a non-empty list",
                "policy.escalation[2]: expected a mapping", "policy.escalation[3].severity: unknown key",
                "policy.escalation[3].steps[0].slack: true"):
        assert any(e.startswith(key) for e in errors), (key, errors)
    assert "ftp" not in " ".join(errors)  # a webhook URL (it may carry a secret) is never echoed
    with pytest.raises(ValueError, match=re.escape("policy.escalation[1].steps")):
        parse_escalation(bad, "policy.escalation", CHANNELS)


def test_remind_every_defaults_durations_and_never() -> None:
    assert parse_remind_every({"P0": {}, "P1": {}, "P2": {}, "P3": {}}) == DEFAULT_REMIND_EVERY
    assert parse_remind_every({"P0": {"remind_every": "20s"}, "P1": {"remind_every": "never"},
                               "P2": {"remind_every": "1h30m"}}) == {"P0": 20.0, "P2": 5400.0}
    assert remind_every_errors("never", "k") == [] and remind_every_errors("5s", "k") == []
    assert remind_every_errors("1s", "k") == ["k: at least 5s (or 'never'), got '1s'"]
    assert remind_every_errors("often", "k")[0].startswith("k: a Prometheus duration")
    assert remind_every_errors(5, "k")[0].startswith("k: a Prometheus duration")


def test_the_channel_map_hands_the_sections_over() -> None:
    cmap = parse_channel_map({"severities": {"P0": {"channels": ["telegram"], "remind_every": "20s"},
                                             "P1": {"channels": ["telegram"]}}, "escalation": GOOD})
    assert cmap.remind_every == {"P0": 20.0, "P1": 1800.0}
    assert len(cmap.escalation.chains) == 2
    with pytest.raises(ValueError, match=re.escape("escalation[1].steps[0].after")):
        parse_channel_map({"severities": {"P0": {"channels": ["telegram"]}},
                           "escalation": [GOOD[0], {"steps": [{"after": "x", "telegram": True}]}]})


# --- any input: parsed, or refused with errors; never an exception --------------------------------------
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=False),
                     st.text(max_size=12), st.sampled_from(["5m", "1h30m", "0", "P0", "oncall", "@alice", "4242",
                                                            "https://h.example/x", "-100123"]))
_keys = st.sampled_from(["severities", "match", "steps", "after", "telegram", "webhook", "slack", "email", "chat",
                         "thread", "mention", "url", "to", "discord", "extra"])
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=5),
                     max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_any_section_is_parsed_or_refused_with_errors(data: Any) -> None:
    errors = escalation_errors(data, "escalation", CHANNELS)
    assert isinstance(errors, list) and all(isinstance(e, str) and e.startswith("escalation") for e in errors)
    if errors:
        with pytest.raises(ValueError):
            parse_escalation(data, channels=CHANNELS)
    else:
        policy = parse_escalation(data, channels=CHANNELS)
        for chain in policy.chains:
            assert chain.steps and all(s.after >= 0 for s in chain.steps)
            for s in chain.steps:
                assert s.telegram or s.webhook or s.channels
                assert isinstance(s.detail(), dict)


_durations = st.lists(st.tuples(st.integers(0, 500), st.sampled_from(["y", "w", "d", "h", "m", "s", "ms"])),
                      min_size=1, max_size=7, unique_by=lambda t: t[1])
_UNITS = {"y": 31536000, "w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_ORDER = list(_UNITS)


@given(_durations)
def test_prometheus_durations_in_unit_order_are_summed(parts: list[tuple[int, str]]) -> None:
    ordered = sorted(parts, key=lambda p: _ORDER.index(p[1]))
    text = "".join(f"{n}{u}" for n, u in ordered)
    assert parse_prometheus_duration(text) == pytest.approx(sum(n * _UNITS[u] for n, u in ordered))
    if len(ordered) > 1:  # out of order is not a Prometheus duration
        assert parse_prometheus_duration("".join(f"{n}{u}" for n, u in reversed(ordered))) is None


@given(st.text(max_size=20))
def test_any_text_is_a_duration_or_none(text: str) -> None:
    v = parse_prometheus_duration(text)
    assert v is None or v >= 0
