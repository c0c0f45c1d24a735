"""Telegram HTML formatting: escaping hostile labels, the 4096 limit, Korean text, callback data."""
from __future__ import annotations

import random

import pytest

from tests.fakes.telegram import parse_telegram_html
from webhook_receiver.notifiers import (
    AlertView, alert_keyboard, callback_data, format_alert, format_resolved, format_summary,
    parse_callback_data, truncate_html, visible_length,
)


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


def test_very_long_values_stay_under_4096_and_parse() -> None:
    a = _alert(labels={"symbol": "비트&코인<" * 3000, "route": "x" * 10_000},
               annotations={"description": "&<>" * 20_000, "summary": "요약" * 1000, "action": "a&" * 5000})
    text = format_alert(a)
    visible = parse_telegram_html(text)
    assert len(visible.encode("utf-16-le")) // 2 <= 4096
    assert visible_length(text) <= 4096


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


def test_summary_counts_by_alertname_p0_first() -> None:
    text = format_summary({"P2": ["RouteScoreLow"] * 20 + ["RateLimitLow"] * 17, "P1": ["X<y>"]})
    visible = parse_telegram_html(text)
    assert "+37 more P2 alerts: RouteScoreLow ×20, RateLimitLow ×17" in visible
    assert visible.index("P1") < visible.index("P2")
    assert "X<y> ×1" in visible


def test_callback_data_within_64_bytes_and_parsed_strictly() -> None:
    big = 10**18
    kb = alert_keyboard(big)
    datas = [b["callback_data"] for b in kb["inline_keyboard"][0]]
    assert datas == [f"ack:{big}", f"sil:{big}:1h", f"sil:{big}:24h"]
    assert all(len(d.encode()) <= 64 for d in datas)
    assert parse_callback_data(f"sil:{big}:24h") == ("sil", big, "24h")
    assert parse_callback_data("ack:5") == ("ack", 5, None)
    for bad in ("ack:5:1h", "sil:5", "sil:5:2h", "rm:5", "ack:-1", "ack:5;drop", ""):
        assert parse_callback_data(bad) is None
    with pytest.raises(ValueError):
        callback_data("sil", 1, "7d")
    assert alert_keyboard(3, acked=True)["inline_keyboard"][0][0]["callback_data"] == "sil:3:1h"
