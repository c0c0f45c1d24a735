"""Reminders and escalation steps in Telegram HTML: which reminder and for how long, mentions that
ring a phone, packed ones naming every alert; always HTML the Bot API accepts."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.support.fakes.telegram import parse_telegram_html
from vocabulary import NotificationKind
from webhook_receiver.notify.channels.telegram.format import TELEGRAM_MAX_CHARS, LinkBuilder, render_alert
from webhook_receiver.notify.channels.telegram.nudges import mention_html, render_nudge, render_packed_nudges
from webhook_receiver.notify.model import AlertView, Notice

K = NotificationKind


def alert(n: int = 1, sev: str = "P0", **row: object) -> AlertView:
    return AlertView.from_row({"id": n, "alertname": "ExchangeFrozen", "severity": sev, "status": "firing",
                               "title": f"ex{n} is <FROZEN>", "labels": {"exchange": f"ex{n}", "job": "d75"},
                               "annotations": {"value": "0 updates", "runbook_url": "https://r.example/x"},
                               "starts_at": datetime.now(UTC) - timedelta(minutes=10), **row})


def test_a_reminder_says_which_and_for_how_long() -> None:
    text = render_nudge(Notice(K.REMINDER, alert(), {"reminder": 2, "firing_seconds": 600}),
                        LinkBuilder("https://alerts.example.com"))
    visible = parse_telegram_html(text)
    assert visible.startswith("🔁 Reminder 2 · firing 10m\n🚨 [P0] ex1 is <FROZEN>")
    assert "Nobody has acknowledged it. /ack 1" in visible and "exchange: ex1" in visible
    assert "job:" not in visible  # plumbing labels stay out of a short reminder
    assert 'href="https://alerts.example.com/alerts/1"' in text


def test_an_escalation_mentions_people_so_their_phones_ring() -> None:
    mentions = [{"id": "4242", "name": "4242"}, {"username": "alice"}, {"id": "777", "name": "bob <on call>"}]
    text = render_nudge(Notice(K.ESCALATION, alert(), {"step": 1, "mentions": mentions, "firing_seconds": 30}))
    assert 'href="tg://user?id=4242">4242</a>' in text and 'href="tg://user?id=777">bob &lt;on call&gt;</a>' in text
    visible = parse_telegram_html(text)
    assert visible.startswith("⏫ Escalation step 1 · nobody has acknowledged it for 30s\n👋 4242 @alice bob <on call>")
    assert mention_html([{"id": "not-a-number"}, "junk", {"username": ""}]) == ""


def test_packed_reminders_name_every_alert_and_fit_one_message() -> None:
    notices = [Notice(K.REMINDER, alert(n, "P0" if n < 60 else "P1"), {"reminder": 1}) for n in range(1, 121)]
    text, taken = render_packed_nudges(notices)
    visible = parse_telegram_html(text)
    assert 1 < taken < 120 and len(visible) <= TELEGRAM_MAX_CHARS
    assert visible.startswith(f"🔁 Reminder: {taken} alerts firing, nobody has acknowledged them")
    assert sorted(int(x) for x in re.findall(r"#(\d+)", visible)) == list(range(1, taken + 1))
    escalations = [Notice(K.ESCALATION, alert(n), {"step": 1, "mentions": [{"username": "alice"}]}) for n in (1, 2)]
    text, taken = render_packed_nudges(escalations)
    assert taken == 2 and parse_telegram_html(text).splitlines()[1] == "👋 @alice"


def test_the_page_shows_the_owner_the_latest_comment_and_the_reminders() -> None:
    owned = alert(acknowledged_by="kim", acknowledged_at=datetime.now(UTC), ack_comment="on it", last_comment="on it",
                  last_comment_by="kim",
                  reminders_sent=2, escalations_sent=1)
    visible = parse_telegram_html(render_alert(owned))
    assert re.search(r"👤 Acked by kim at .*: on it", visible)
    assert "🔁 2 reminders sent" in visible and "⏫ escalated (1 step)" in visible
    later = alert(acknowledged_by="kim", ack_comment="on it", last_comment="db restarted", last_comment_by="lee")
    assert "💬 lee: db restarted" in parse_telegram_html(render_alert(later))
