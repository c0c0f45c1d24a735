"""The on-call line of P0/P1 pages (single and packed, a mention Telegram accepts), `/oncall` and
`/mute` alone parsed, and the console's answers about windows (pure parts; the integration tests run
them through a receiver)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.fakes.telegram import parse_telegram_html
from webhook_receiver.notify.channels.base import ChannelLimits
from webhook_receiver.notify.channels.telegram import TelegramChannel
from webhook_receiver.notify.channels.telegram.console import ConsoleTelegram
from webhook_receiver.notify.channels.telegram.format import render_alert, render_packed
from webhook_receiver.notify.commands import CommandError, parse_command
from webhook_receiver.notify.maintenance import parse_maintenance
from webhook_receiver.notify.model import AlertView, Notice
from webhook_receiver.notify.oncall import Person
from webhook_receiver.notify.schedules_text import mute_list, window_lines

ALICE = Person("alice", "4242", "alice@example.com")
BOB = Person("bob<b>", telegram_username="bob")


def _alert(severity: str = "P0", **kw: object) -> AlertView:
    return AlertView.from_row({"id": 7, "alertname": "ExchangeFrozen", "severity": severity, "status": "firing",
                               "labels": {"exchange": "upbit"}, "annotations": {"summary": "upbit is FROZEN"}, **kw})


def test_the_line_under_the_title_is_a_mention_telegram_accepts() -> None:
    text = render_alert(_alert(), oncall=ALICE.mention_html())
    assert text.splitlines()[1] == '📟 on call: <a href="tg://user?id=4242">alice</a>'
    assert "📟 on call: alice" in parse_telegram_html(text)
    assert "on call" not in render_alert(_alert())
    assert BOB.mention_html() == "@bob" and Person("x&y").mention_html() == "x&amp;y"
    packed, n = render_packed([Notice("firing", _alert()), Notice("firing", _alert(id=8))], oncall="@bob")
    assert n == 2 and parse_telegram_html(packed).splitlines()[1] == "📟 on call: @bob"


@pytest.mark.parametrize("severity,kind,resolved,mentioned", [
    ("P0", "firing", False, True), ("P1", "firing", False, True), ("P2", "firing", False, False),
    ("P3", "firing", False, False), ("P0", "ack", False, True), ("P0", "resolved", True, False)])
def test_the_channel_mentions_for_open_p0_and_p1(severity: str, kind: str, resolved: bool, mentioned: bool) -> None:
    ch = TelegramChannel(ConsoleTelegram(), "-1", ChannelLimits(min_interval=1.0, per_minute=20, global_per_second=30,
                                                                max_chars=4096))
    asked: list[datetime] = []
    ch.use_oncall(lambda at: asked.append(at) or ALICE)
    alert = _alert(severity, **({"status": "resolved", "ends_at": datetime.now(UTC)} if resolved else {}))
    [part] = ch.render_single(Notice(kind, alert), "-1")
    assert ("📟 on call: alice" in parse_telegram_html(part.text)) is mentioned
    assert bool(asked) is mentioned
    nobody = TelegramChannel(ConsoleTelegram(), "-1", ch.limits)
    nobody.use_oncall(lambda at: None)
    assert "on call" not in nobody.render_single(Notice(kind, alert), "-1")[0].text


def test_oncall_and_mute_alone_parse() -> None:
    assert parse_command("/oncall").name == "oncall" and not parse_command("/oncall").take
    take = parse_command("/oncall take 4h")
    assert take.take and take.duration == timedelta(hours=4)
    assert parse_command("/oncall TAKE 90m").duration == timedelta(minutes=90)
    for bad in ("/oncall take", "/oncall take soon", "/oncall give 4h", "/oncall take 4h extra", "/oncall take 31d",
                "/oncall take 10s"):
        with pytest.raises(CommandError):
            parse_command(bad)
    mute = parse_command("/mute")
    assert mute.name == "mute" and mute.matchers == () and mute.duration is None


def test_windows_are_listed_open_ones_first_with_their_next_occurrence() -> None:
    s = parse_maintenance([
        {"name": "later", "match": {"exchange": "binance"}, "weekdays": ["friday"], "times": ["10:00-11:00"],
         "timezone": "Asia/Seoul"},
        {"name": "now", "match": {"exchange": "upbit"}, "weekdays": ["thursday"], "times": ["10:00-10:30"],
         "timezone": "Asia/Seoul"}])
    at = datetime(2026, 12, 3, 1, 10, tzinfo=UTC)  # Thursday 10:10 in Seoul
    lines = [parse_telegram_html(x) for x in window_lines(s, at)]
    assert lines == [
        "🛠 now exchange=upbit · thu 10:00-10:30 Asia/Seoul: open now, until Thu 03 Dec 10:30 Asia/Seoul (in 20m)",
        "🗓 later exchange=binance · fri 10:00-11:00 Asia/Seoul: next Fri 04 Dec 10:00 Asia/Seoul (in 23h 50m)",
    ]
    text = parse_telegram_html(mute_list(s, [], at))
    assert "Recurring windows" in text and "No one-off mute in force." in text
    assert "No recurring windows" in parse_telegram_html(mute_list(parse_maintenance(None), [], at))


def test_a_page_does_not_wait_on_an_unreadable_database(tmp_path) -> None:
    from webhook_receiver.notify.oncall import parse_oncall
    from webhook_receiver.notify.oncall_board import OncallBoard
    from webhook_receiver.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    store.migrate()
    policy = parse_oncall({"people": {"alice": {"telegram": "1"}, "bob": {}}, "rotation": {
        "order": ["alice"], "handoff": "09:00", "length": "1d"}})
    board = OncallBoard(store, policy)
    now = datetime.now(UTC)
    board.take(policy.people["bob"], timedelta(hours=1), "kim", now)
    assert board.oncall_person(now).name == "bob"
    with store.transaction() as tx:
        tx.execute("DROP TABLE oncall_overrides")  # unreadable from now on
    board._cached = None
    assert board.oncall_person(now).name == "alice"  # the rotation, without the overrides
    store.close()
