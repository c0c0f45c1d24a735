"""The dry run shows what the phone would: each link with its target, the buttons under each message
and which remain after an edit (the edited text itself, an acknowledgement's comment included, is
the channel's rendering, printed as it is)."""
from __future__ import annotations

import io

from webhook_receiver.notify.channels.telegram.console import ConsoleTelegram, buttons_text, plain_text
from webhook_receiver.notify.channels.telegram.format import LinkBuilder, alert_keyboard, packed_keyboard, render_alert
from webhook_receiver.notify.model import AlertView


def _alert(**kw: object) -> AlertView:
    return AlertView.from_row({
        "id": 17, "alertname": "ExchangeFrozen", "severity": "P0", "source": "exchange_health", "status": "firing",
        "labels": {"exchange": "upbit"}, "starts_at": "2026-11-23T01:00:00Z",
        "annotations": {"summary": "upbit is FROZEN", "runbook_url": "http://127.0.0.1:9099/runbooks/exchange-frozen"},
        "metadata": {"generatorURL": "http://127.0.0.1:9090/graph?g0.expr=a&amp=1"}, **kw})


def test_links_keep_their_targets_in_plain_text() -> None:
    text = render_alert(_alert(), LinkBuilder("https://alerts.example.com"))
    plain = plain_text(text)
    assert "📖 Runbook (http://127.0.0.1:9099/runbooks/exchange-frozen)" in plain
    assert "📈 Graph (http://127.0.0.1:9090/graph?g0.expr=a&amp=1)" in plain  # unescaped once, as the phone opens it
    assert "🗂 History #17 (https://alerts.example.com/alerts/17)" in plain
    assert "<" not in plain.replace("< ", "")  # no tag left


def test_the_buttons_are_printed_row_by_row() -> None:
    assert buttons_text(alert_keyboard(17)) == ["[✅ Ack] [🔕 Silence 1h] [🔕 Silence 24h]"]
    # acknowledged: the Ack button makes way for Unack, on a row of its own
    assert buttons_text(alert_keyboard(17, acked=True)) == ["[🔕 Silence 1h] [🔕 Silence 24h]", "[↩️ Unack]"]
    assert buttons_text(packed_keyboard(5, [_alert(id=1), _alert(id=2, labels={"exchange": "okx"})]))[-1] == (
        "[✅ Ack all (2)] [🔕 Silence all 1h]")
    assert buttons_text({"inline_keyboard": [[{"text": "Open", "url": "https://x.example/a"}]]}) == [
        "[Open -> https://x.example/a]"]
    assert buttons_text(None) == [] and buttons_text({"inline_keyboard": []}) == []


def test_a_message_and_its_edit_as_the_dry_run_prints_them() -> None:
    out = io.StringIO()
    tg = ConsoleTelegram(stream=out)
    mid = tg.send_message("console", render_alert(_alert()), reply_markup=alert_keyboard(17))
    acked = _alert(acknowledged_by="kim", acknowledged_at="2026-11-23T01:02:00Z", ack_comment="failing over upbit")
    tg.edit_message_text("console", mid, render_alert(acked), reply_markup=alert_keyboard(17, acked=True))
    tg.edit_message_text("console", mid, render_alert(_alert(status="resolved", ends_at="2026-11-23T01:05:00Z")),
                         reply_markup={"inline_keyboard": []})
    message, edit, resolved = out.getvalue().split("---\n")[:3]
    assert message.startswith("[telegram dry-run] message 1\n🚨 [P0] upbit is FROZEN")
    assert "📖 Runbook (http://127.0.0.1:9099/runbooks/exchange-frozen)" in message
    assert message.rstrip().endswith("buttons: [✅ Ack] [🔕 Silence 1h] [🔕 Silence 24h]")
    assert edit.startswith("[telegram dry-run] edit of message 1")
    assert "👤 Acked by kim at 2026-11-23 01:02:00 UTC" in edit
    assert edit.rstrip().endswith("buttons: [🔕 Silence 1h] [🔕 Silence 24h]\n         [↩️ Unack]")
    assert resolved.rstrip().endswith("buttons: none") and "RESOLVED" in resolved
