"""Telegram HTML formatting: escaping hostile labels, every annotation shown, long messages split at
safe boundaries, packed messages within 4096 and the entity budget, callback data within 64 bytes."""
from __future__ import annotations

import random

import pytest

from tests.support.fakes.telegram import parse_telegram_html
from webhook_receiver.notify.channels.base import TailCount
from webhook_receiver.notify.channels.telegram.format import (
    MAX_ENTITIES,
    Callback,
    LinkBuilder,
    alert_keyboard,
    callback_data,
    packed_keyboard,
    parse_callback_data,
    render_alert,
    render_packed,
    render_resolved,
    split_html,
    truncate_html,
    visible_length,
)
from webhook_receiver.notify.model import AlertView, Notice


def format_alert(a: AlertView) -> str:
    """What the first message part of an alert shows."""
    return split_html(render_alert(a))[0]


def format_resolved(a: AlertView) -> str:
    return split_html(render_resolved(a))[0]


def _alert(**kw) -> AlertView:
    row = {
        "id": 17, "alertname": "ExchangeFrozen", "severity": "P0", "source": "exchange_health",
        "status": "firing", "labels": {"exchange": "upbit", "alertname": "ExchangeFrozen"},
        "annotations": {"summary": "Exchange upbit FROZEN", "description": "status=3 (FROZEN) for 12s",
                        "runbook_url": "https://example.org/runbooks/exchange-frozen.md",
                        "action": "Fail over to the backup exchange"},
        "metadata": {"generatorURL": "http://127.0.0.1:9090/graph?g0.expr=d75&g0.tab=1"},
        "starts_at": "2026-11-23T01:00:00Z",
    }
    for k, v in kw.items():
        if k in ("labels", "annotations"):
            row[k] = {**row[k], **v}
        else:
            row[k] = v
    return AlertView.from_row(row)


def test_seed_format_has_emoji_title_labels_description_action_links() -> None:
    text = format_alert(_alert())
    visible = parse_telegram_html(text)
    assert visible.startswith("🚨 [P0] Exchange upbit FROZEN")
    assert "exchange: upbit" in visible
    assert "status=3 (FROZEN) for 12s" in visible
    assert "Action: Fail over" in visible
    assert 'href="https://example.org/runbooks/exchange-frozen.md"' in text
    assert 'href="http://127.0.0.1:9090/graph?g0.expr=d75&amp;g0.tab=1"' in text


@pytest.mark.parametrize("sev,emoji", [("P0", "🚨"), ("P1", "⚠️"), ("P2", "⚡"), ("P3", "ℹ️")])
def test_severity_emoji(sev: str, emoji: str) -> None:
    assert parse_telegram_html(format_alert(_alert(severity=sev))).startswith(f"{emoji} [{sev}]")


def test_hostile_labels_and_annotations_are_escaped() -> None:
    hostile = '<script>alert("x")</script> & <b>bold</b> </code>'
    a = _alert(labels={"exchange": hostile, "route": "a&b<c>"},
               annotations={"summary": hostile, "description": hostile, "action": "<i>"},
               metadata={"generatorURL": 'javascript:alert(1)'})
    text = format_alert(a)
    assert "<script>" not in text and "</code> </code>" not in text
    visible = parse_telegram_html(text)  # raises if Telegram could not parse it
    assert hostile in visible
    assert "a&b<c>" in visible
    assert "javascript:" not in text  # non-http links are dropped


def test_korean_text_survives() -> None:
    a = _alert(annotations={"summary": "업비트 거래소 동결", "description": "일일 손실 한도 초과: $55,000 / $50,000"})
    visible = parse_telegram_html(format_alert(a))
    assert "업비트 거래소 동결" in visible and "일일 손실 한도 초과" in visible


def test_very_long_values_are_split_into_parts_that_parse_and_lose_nothing() -> None:
    a = _alert(labels={"symbol": "비트&코인<" * 30, "route": "x" * 150},
               annotations={"description": "&<>" * 5_000, "summary": "요약" * 100, "action": "a&" * 3000,
                            "evidence": "🚨 line\n" * 400})
    parts = split_html(render_alert(a))
    assert len(parts) > 3
    joined = ""
    for p in parts:
        visible = parse_telegram_html(p)  # every part parses on its own
        assert len(visible.encode("utf-16-le")) // 2 <= 4096
        joined += visible
    flat = joined.replace("\n", "")
    assert ("&<>" * 5_000) in flat  # the description, whole, across the parts
    assert flat.count("🚨 line") == 400  # the extra annotation, whole
    assert "a&" * 3000 in flat
    assert parse_telegram_html(parts[0]).startswith("🚨 [P0] " + "요약" * 100)


def test_every_annotation_is_shown_in_its_place() -> None:
    a = _alert(annotations={"value": "3 (FROZEN)", "dashboard": "https://grafana/d/x", "owner": "team <a>"})
    visible = parse_telegram_html(render_alert(a))
    assert "value: 3 (FROZEN)" in visible
    assert "dashboard: https://grafana/d/x" in visible and "owner: team <a>" in visible
    assert visible.index("status=3") < visible.index("dashboard:")  # known ones first, the others after


def test_split_cuts_inside_a_long_line_without_breaking_tags_or_entities() -> None:
    line = "<b>" + "&amp;가" * 3000 + "</b>"
    parts = split_html("head\n" + line + "\ntail", 4096)
    assert len(parts) >= 2
    total = ""
    for p in parts:
        v = parse_telegram_html(p)
        assert len(v.encode("utf-16-le")) // 2 <= 4096
        assert p.count("<b>") == p.count("</b>")
        total += v
    assert total.replace("\n", "") == "head" + "&가" * 3000 + "tail"


def test_split_boundaries_are_exact() -> None:
    exact = "x" * 4096
    assert split_html(exact) == [exact]
    assert [visible_length(p) for p in split_html("x" * 4097)] == [4096, 1]
    two = "a" * 2048 + "\n" + "b" * 2047
    assert split_html(two) == [two]  # 4096 with the newline
    assert split_html(two + "b") == ["a" * 2048, "b" * 2048]


def test_truncate_html_never_breaks_tags_or_entities() -> None:
    rng = random.Random(7)
    pieces = ["<b>", "</b>", "<i>", "</i>", "<code>", "</code>", "&amp;", "&lt;", "가나다", "abc", "🚨", "\n"]
    for _ in range(300):
        # build random well-formed html
        out, stack = [], []
        for _ in range(rng.randint(1, 80)):
            p = rng.choice(pieces)
            if p.startswith("</"):
                if stack:
                    out.append(f"</{stack.pop()}>")
            elif p.startswith("<"):
                stack.append(p[1:-1])
                out.append(p)
            else:
                out.append(p)
        out += [f"</{t}>" for t in reversed(stack)]
        html_text = "".join(out)
        limit = rng.randint(1, 60)
        cut = truncate_html(html_text, limit)
        visible = parse_telegram_html(cut)
        assert len(visible.encode("utf-16-le")) // 2 <= limit
        if visible_length(html_text) <= limit:
            assert cut == html_text


def test_resolved_shows_duration() -> None:
    a = _alert(status="resolved", ends_at="2026-11-23T01:12:05Z")
    visible = parse_telegram_html(format_resolved(a))
    assert visible.startswith("✅ RESOLVED [P0]")
    assert "after 12m 5s" in visible


def _notices(
    n: int, name: str = "RouteScoreLow", sev: str = "P2", kind: str = "firing", start: int = 1
) -> list[Notice]:
    return [Notice(kind, _alert(id=start + i, alertname=name, severity=sev, labels={"route": f"upbit-binance-C{i}"},
                                annotations={"value": f"{40 + i % 9}"})) for i in range(n)]


def test_packed_names_every_alert_most_severe_first_grouped_by_alertname() -> None:
    notices = _notices(3, "RouteScoreLow", "P2") + _notices(2, "ExchangeFrozen", "P0", start=10)
    text, n = render_packed(notices)
    visible = parse_telegram_html(text)
    assert n == 5
    assert visible.startswith("🚨 5 alerts firing (P0 2 · P2 3)")
    assert visible.index("[P0] ExchangeFrozen ×2") < visible.index("[P2] RouteScoreLow ×3")
    for i in range(3):
        assert f"upbit-binance-C{i}" in visible
    assert [f"#{i}" in visible.split() for i in (1, 2, 3, 10, 11)] == [True] * 5


def test_packed_takes_what_fits_under_4096_and_the_entity_budget() -> None:
    notices = _notices(400)
    text, n = render_packed(notices)
    assert 10 < n < 400
    assert visible_length(text) <= 4096
    assert text.count("<a ") + text.count("<b>") + text.count("<i>") <= MAX_ENTITIES
    parse_telegram_html(text)
    more, m = render_packed(notices[n:])
    assert m >= 1 and "RouteScoreLow" in parse_telegram_html(more)


def test_packed_lines_show_resolved_acked_and_history_links() -> None:
    acked = Notice("firing", _alert(id=5, acknowledged_by="kim", labels={"exchange": "bithumb"}))
    resolved = Notice("resolved", _alert(id=6, status="resolved", ends_at="2026-11-23T01:02:03Z",
                                         labels={"exchange": "okx"}))
    text, _ = render_packed([acked, resolved], links=LinkBuilder("https://alerts.example.com"))
    visible = parse_telegram_html(text)
    assert "👤 kim" in visible and "✅ after 2m 3s" in visible
    assert 'href="https://alerts.example.com/alerts/5"' in text
    assert "Resolved [P0] ExchangeFrozen ×1" in visible


def test_packed_tail_is_counted_with_first_names_and_a_pointer() -> None:
    tail = [TailCount("P2", "RouteScoreLow", "firing", 250, ("r1", "r2"))]
    text, _ = render_packed(_notices(2), tail=tail)
    visible = parse_telegram_html(text)
    assert "252 alerts firing" in visible
    assert "+250 more RouteScoreLow [P2] (named above: r1, r2): /alerts RouteScoreLow" in visible
    linked, _ = render_packed(_notices(2), tail=tail, links=LinkBuilder("https://a.example"))
    assert 'href="https://a.example/alerts?alertname=RouteScoreLow&amp;status=firing"' in linked


def test_packed_hostile_labels_are_escaped() -> None:
    hostile = Notice("firing", _alert(id=9, labels={"exchange": '</b><script>&"'}, annotations={"value": "<x>"}))
    text, _ = render_packed([hostile, *_notices(1)])
    assert '</b><script>&"' in parse_telegram_html(text)


def test_callback_data_within_64_bytes_and_parsed_strictly() -> None:
    big = 10**18
    kb = alert_keyboard(big)
    datas = [b["callback_data"] for b in kb["inline_keyboard"][0]]
    assert datas == [f"ack:{big}", f"sil:{big}:1h", f"sil:{big}:24h"]
    assert all(len(d.encode()) <= 64 for d in datas)
    assert parse_callback_data(f"sil:{big}:24h") == Callback("sil", big, "24h")
    assert parse_callback_data("ack:5") == Callback("ack", 5, None)
    assert parse_callback_data(f"pa:{big}") == Callback("ack_all", big, None)
    assert parse_callback_data("ps:7:1h") == Callback("sil_all", 7, "1h")
    for bad in ("ack:5:1h", "sil:5", "sil:5:2h", "rm:5", "ack:-1", "ack:5;drop", "", "pa:5:1h", "ps:5"):
        assert parse_callback_data(bad) is None
    with pytest.raises(ValueError):
        callback_data("sil", 1, "7d")
    assert alert_keyboard(3, acked=True)["inline_keyboard"][0][0]["callback_data"] == "sil:3:1h"
    assert alert_keyboard(3, resolved=True) == {"inline_keyboard": []}


def test_packed_keyboard_acks_all_and_per_line_within_64_bytes() -> None:
    big = 10**18
    few = [_alert(id=big - i, labels={"exchange": f"ex{i}" * 20}) for i in range(3)]
    kb = packed_keyboard(big, few)
    datas = [b["callback_data"] for row in kb["inline_keyboard"] for b in row]
    assert f"pa:{big}" in datas and f"ps:{big}:1h" in datas and f"ack:{big}" in datas
    assert all(len(d.encode()) <= 64 for d in datas)
    many = [_alert(id=i) for i in range(1, 20)]
    rows = packed_keyboard(5, many)["inline_keyboard"]
    assert len(rows) == 1 and rows[0][0]["text"] == "✅ Ack all (19)"  # too many for one button each
    assert packed_keyboard(5, [_alert(id=1, status="resolved")]) == {"inline_keyboard": []}

