"""Operator commands: parsing is pure and never raises anything but CommandError, whatever the text;
the buttons of command answers parse like the alert buttons (never trusting the client)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook_receiver.notify.channels.telegram.format import parse_callback_data
from webhook_receiver.notify.commands import (
    COMMANDS,
    MAX_MUTE,
    Command,
    CommandError,
    Matcher,
    clean_text,
    parse_command,
    parse_duration,
)


def parse(text: str, bot: str | None = "d76_bot") -> Command | None:
    return parse_command(text, bot)


def test_simple_commands_and_bot_addressing() -> None:
    assert parse("/status").name == "status"
    assert parse("/status@d76_bot").name == "status"
    assert parse("/STATUS@D76_Bot").name == "status"   # Telegram usernames are case-insensitive
    assert parse("/status@other_bot") is None            # another bot's command in the group
    assert parse("/status@anything", bot=None).name == "status"  # username not known yet: ours
    assert parse("/silences").name == "silences"
    assert parse("/help").name == "help" and parse("/start").name == "help"
    assert parse("hello") is None and parse("") is None and parse("/") is None and parse("  /status") is None


def test_alerts_filters() -> None:
    c = parse("/alerts p1 P0 exchange=upbit")
    assert c.severities == ("P0", "P1") and c.matchers == (Matcher("exchange", "upbit"),)
    assert parse("/alerts P0,P2").severities == ("P0", "P2")
    assert parse("/alerts symbol!=BTC").matchers == (Matcher("symbol", "BTC", equal=False),)
    assert parse('/alerts route="upbit-binance-BTC"').matchers[0].value == "upbit-binance-BTC"
    for bad in ("/alerts P7", "/alerts exchange=", "/alerts 9x=1", "/alerts route=~up.*"):
        with pytest.raises(CommandError):
            parse(bad)


def test_ack_takes_an_id_and_a_comment() -> None:
    c = parse("/ack 42 failing over to binance")
    assert (c.alert_id, c.text) == (42, "failing over to binance")
    assert parse("/ack #7").alert_id == 7 and parse("/ack #7").text is None
    assert parse("/ack 3 first line\nsecond line").text == "first line\nsecond line"
    for bad in ("/ack", "/ack abc", "/ack -1", "/ack 0", "/ack 1.5", "/ack 9223372036854775808",
                "/ack 99999999999999999999999999999999"):
        with pytest.raises(CommandError):
            parse(bad)
    assert parse("/ack 9223372036854775807").alert_id == 2**63 - 1


def test_unack_takes_an_id_and_a_comment() -> None:
    c = parse("/unack 42 handing over")
    assert (c.name, c.alert_id, c.text) == ("unack", 42, "handing over")
    assert parse("/unack #7").text is None
    for bad in ("/unack", "/unack abc", "/unack 0"):
        with pytest.raises(CommandError):
            parse(bad)


def test_mute_matchers_duration_and_reason() -> None:
    c = parse("/mute exchange=upbit 2h planned maintenance, back at 05:00")
    assert c.matchers == (Matcher("exchange", "upbit"),) and c.duration == timedelta(hours=2)
    assert c.text == "planned maintenance, back at 05:00"
    c = parse('/mute 90m route=~"upbit-.*" source=arb_route')
    assert c.duration == timedelta(minutes=90) and [m.name for m in c.matchers] == ["route", "source"]
    assert c.matchers[0].regex and c.text is None
    assert parse("/mute exchange=upbit 1h30m").duration == timedelta(hours=1, minutes=30)
    for bad, why in (("/mute exchange=upbit", "duration"), ("/mute 2h", "label=value"),
                     ("/mute exchange=upbit 30s", "shortest"), ("/mute exchange=upbit 31d", "longest"),
                     ("/mute exchange=upbit 99999999999w", "longest"), ("/mute exchange!=upbit 1h", "selects"),
                     ("/mute route=~( 1h", "regular expression")):
        with pytest.raises(CommandError, match=why):
            parse(bad)


def test_unsilence_and_unmute() -> None:
    assert parse("/unsilence 8F2A").silence_id == "8f2a"
    assert parse("/unsilence 0b6c1b2e-6d2e-4c1a-9f3a-2b7c9d0e1f23").silence_id.startswith("0b6c1b2e")
    assert parse("/unmute").mute_id is None and parse("/unmute 3").mute_id == 3
    for bad in ("/unsilence", "/unsilence x", "/unsilence abc", "/unsilence a b", "/unmute x", "/unmute 1 2"):
        with pytest.raises(CommandError):
            parse(bad)


def test_unknown_commands_say_so() -> None:
    with pytest.raises(CommandError, match="Unknown command /reboot"):
        parse("/reboot now")
    with pytest.raises(CommandError, match="Too many arguments"):
        parse("/alerts " + " ".join(["P0"] * 100))


def test_hostile_text_is_cleaned() -> None:
    assert clean_text("/ack\x00 5\x07 ok\ud800") == "/ack 5 ok"
    assert parse("/ack\x00 5").alert_id == 5
    assert clean_text(None) == "" and clean_text(12) == ""
    assert parse("/status " + "x" * 100_000).name == "status"  # bounded, not slow
    assert parse_duration("2h") == timedelta(hours=2) and parse_duration("h2") is None
    assert parse_duration("9" * 12 + "w") > MAX_MUTE  # capped, no OverflowError


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", categories=None), max_size=300).map(lambda s: "/" + s))
def test_any_text_parses_or_is_refused_politely(text: str) -> None:
    try:
        c = parse_command(text, "d76_bot")
    except CommandError as exc:
        assert str(exc)
        return
    assert c is None or c.name in {n for n, _ in COMMANDS}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["/ack ", "/mute ", "/alerts ", "/unsilence ", "/unmute ", "/mute exchange=upbit "]),
       st.lists(st.one_of(st.integers(min_value=-10**40, max_value=10**40).map(str),
                          st.text(max_size=20), st.sampled_from(["2h", "P0", "a=b", "=", "x=~(", "#5", "\x00"])),
                max_size=6))
def test_arguments_of_any_shape(head: str, args: list[str]) -> None:
    try:
        c = parse_command(head + " ".join(args), None)
    except CommandError:
        return
    if c is not None and c.alert_id is not None:
        assert 1 <= c.alert_id < 2**63
    if c is not None and c.duration is not None:
        assert timedelta(minutes=1) <= c.duration <= MAX_MUTE


def test_command_list_is_what_setmycommands_accepts() -> None:
    assert 1 <= len(COMMANDS) <= 100
    for name, desc in COMMANDS:
        assert name.islower() and name.replace("_", "").isalnum() and len(name) <= 32
        assert 1 <= len(desc) <= 256


def test_answer_buttons_parse_and_nothing_else_does() -> None:
    assert parse_callback_data("ap:2").action == "alerts_page" and parse_callback_data("ap:2").target == 2
    sid = "0b6c1b2e-6d2e-4c1a-9f3a-2b7c9d0e1f23"
    us = parse_callback_data(f"us:{sid}")
    assert us.action == "unsilence" and us.arg == sid
    assert parse_callback_data("um:3").action == "unmute" and parse_callback_data("um:3").target == 3
    for bad in ("ap:", "ap:-1", "ap:1234567", "us:zz", "us:" + "a" * 40, "um:x", "um:1:2", "ap:1\x00"):
        assert parse_callback_data(bad) is None
    assert parse_callback_data("ack:5").action == "ack"  # the alert buttons still parse
