"""Channel clients against local servers speaking the real protocols (fake Bot API, Slack, Discord, SMTP)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.fakes import FakeDiscord, FakeSlack, FakeTelegram, Fault, SMTPServer
from webhook_receiver.notify.channels.base import ChannelLimits, DeliveryError
from webhook_receiver.notify.channels.discord import DiscordChannel
from webhook_receiver.notify.channels.email import SMTPSender, build_digest, render_digest_email
from webhook_receiver.notify.channels.slack import SlackChannel
from webhook_receiver.notify.channels.telegram import TelegramClient
from webhook_receiver.notify.channels.telegram.format import alert_keyboard, render_alert
from webhook_receiver.notify.model import AlertView, Notice

LIMITS = ChannelLimits()


def format_alert(a: AlertView) -> str:
    return render_alert(a)


def slack_channel(url: str) -> SlackChannel:
    return SlackChannel({"p2": url}, LIMITS)


def send_slack(url: str, alert: AlertView = None) -> None:  # type: ignore[assignment]
    ch = slack_channel(url)
    ch.send("p2", ch.render_single(Notice("firing", alert or ALERT), "p2")[0])


def send_discord(url: str) -> None:
    ch = DiscordChannel(url, LIMITS)
    ch.send("default", ch.render_single(Notice("firing", ALERT), "default")[0])

ALERT = AlertView.from_row({
    "id": 5, "alertname": "RouteScoreLow", "severity": "P2", "source": "arb_route", "status": "firing",
    "labels": {"route": "upbit-binance-BTC", "alertname": "RouteScoreLow"},
    "annotations": {"summary": "Route score low <b>", "description": "score 41 < 50 @everyone",
                    "runbook_url": "https://example.org/rb.md"},
    "starts_at": "2026-11-23T00:00:00Z"})


def client(tg: FakeTelegram, **kw) -> TelegramClient:
    return TelegramClient(tg.token, tg.api_url, **kw)


def test_send_edit_answer_and_keyboard(tg: FakeTelegram) -> None:
    c = client(tg)
    mid = c.send_message("-100", format_alert(ALERT), reply_markup=alert_keyboard(5))
    msg = tg.find_message("-100", mid)
    assert msg is not None and msg.visible_text.startswith("⚡ [P2] Route score low <b>")
    assert msg.reply_markup["inline_keyboard"][0][0]["callback_data"] == "ack:5"
    c.edit_message_text("-100", mid, "<b>resolved</b>")
    c.edit_message_text("-100", mid, "<b>resolved</b>")  # "not modified" is success
    assert tg.find_message("-100", mid).visible_text == "resolved"
    c.answer_callback_query("99", "ok")
    assert tg.callback_answers[-1]["callback_query_id"] == "99"


def test_429_carries_retry_after(tg: FakeTelegram) -> None:
    tg.rate_limit(retry_after=7)
    with pytest.raises(DeliveryError) as ei:
        client(tg).send_message("1", "hi")
    assert ei.value.kind == "rate_limited" and ei.value.retry_after == 7.0 and not ei.value.permanent
    assert client(tg).send_message("1", "hi") == 1  # next call goes through


def test_5xx_and_timeout_and_dropped_connection_are_retryable(tg: FakeTelegram) -> None:
    tg.inject(Fault(status=502, body={"ok": False, "error_code": 502, "description": "Bad Gateway"}))
    with pytest.raises(DeliveryError) as ei:
        client(tg).send_message("1", "hi")
    assert ei.value.kind == "retryable"
    tg.inject(Fault(kind="timeout", delay=3))
    with pytest.raises(DeliveryError, match="timed out") as ei:
        client(tg, read_timeout=0.3).send_message("1", "hi")
    assert ei.value.kind == "retryable"
    tg.inject(Fault(kind="close"))
    with pytest.raises(DeliveryError) as ei:
        client(tg).send_message("1", "hi")
    assert ei.value.kind == "retryable"
    assert tg.token not in str(ei.value)


def test_unparsable_html_and_blocked_bot_are_permanent(tg: FakeTelegram) -> None:
    with pytest.raises(DeliveryError, match="can't parse entities") as ei:
        client(tg).send_message("1", "<b>unclosed")
    assert ei.value.permanent and ei.value.status == 400
    tg.block_chat("2")
    with pytest.raises(DeliveryError, match="blocked") as ei:
        client(tg).send_message("2", "hi")
    assert ei.value.permanent and ei.value.status == 403
    with pytest.raises(DeliveryError) as ei:
        TelegramClient("wrong:token", tg.api_url).send_message("1", "hi")
    assert ei.value.permanent and "wrong:token" not in str(ei.value)


def test_long_polling_returns_pressed_buttons(tg: FakeTelegram) -> None:
    c = client(tg)
    assert c.get_updates(None, timeout=0) == []
    tg.press_button("ack:5", chat_id=-100, message_id=1)
    ups = c.get_updates(None, timeout=5)
    assert ups[0]["callback_query"]["data"] == "ack:5"
    assert c.get_updates(ups[-1]["update_id"] + 1, timeout=0) == []  # confirmed


def test_slack_block_kit_routing_and_errors() -> None:
    with FakeSlack() as slack:
        send_slack(slack.hook_url("p2"))
        body = slack.posts("p2")[0]
        assert body["blocks"][0]["type"] == "header" and "[P2]" in body["text"]
        assert "&lt;b&gt;" in str(body["blocks"]) or "<b>" in body["blocks"][0]["text"]["text"]
        slack.rate_limit(retry_after=3)
        with pytest.raises(DeliveryError) as ei:
            send_slack(slack.hook_url("p2"))
        assert ei.value.retry_after == 3.0
        with pytest.raises(DeliveryError) as ei:
            send_slack(slack.url + "/wrong")
        assert ei.value.permanent and slack.url not in str(ei.value)


def test_discord_embeds_and_429_json_retry_after() -> None:
    with FakeDiscord() as dc:
        send_discord(dc.hook_url())
        body = dc.posts()[0]
        assert body["embeds"][0]["title"].startswith("[P2]") and body["allowed_mentions"] == {"parse": []}
        dc.rate_limit(retry_after=0.25)
        with pytest.raises(DeliveryError) as ei:
            send_discord(dc.hook_url())
        assert ei.value.retry_after == 0.25
        dc.inject(status=503, body={"message": "upstream"})
        with pytest.raises(DeliveryError) as ei:
            send_discord(dc.hook_url())
        assert ei.value.kind == "retryable"


def test_smtp_digest_has_both_parts_and_auth() -> None:
    now = datetime(2026, 11, 23, 8, tzinfo=UTC)
    alerts = [AlertView.from_row({"alertname": "DiskFreeLow", "severity": "P3", "status": "firing",
                                  "labels": {"path": "/data"}, "annotations": {"summary": "디스크 <10%"},
                                  "starts_at": "2026-11-23T01:00:00Z"}),
              AlertView.from_row({"alertname": "DiskFreeLow", "severity": "P3", "status": "resolved",
                                  "annotations": {"summary": "disk"}, "starts_at": "2026-11-22T10:00:00Z",
                                  "ends_at": "2026-11-22T11:00:00Z"})]
    digest = build_digest(alerts, now.replace(day=22), now)
    msg = render_digest_email(digest, sender="d76@example.org", recipients=["ops@example.org"])
    with SMTPServer(user="d76", password="s3cret") as smtp:
        SMTPSender(smtp.host, smtp.port, user="d76", password="s3cret").send(msg)
        got = smtp.wait_messages(1)[0]
        assert got.rcpt_tos == ["ops@example.org"]
        plain = got.message.get_body(("plain",)).get_content()
        htmlpart = got.message.get_body(("html",)).get_content()
        assert "Total: 2  open: 1  resolved: 1" in plain and "DiskFreeLow: 2" in plain
        assert "디스크 &lt;10%" in htmlpart and "<table" in htmlpart
        with pytest.raises(DeliveryError) as ei:
            SMTPSender(smtp.host, smtp.port, user="d76", password="wrong").send(msg)
        assert ei.value.permanent and "wrong" not in str(ei.value)
        smtp.fail_next(451)
        with pytest.raises(DeliveryError) as ei:
            SMTPSender(smtp.host, smtp.port, user="d76", password="s3cret").send(msg)
        assert ei.value.kind == "retryable"


def test_smtp_starttls_verified_and_required(tmp_path) -> None:
    from email.message import EmailMessage

    from tests.support.fakes.smtp import make_self_signed_cert

    cert, key = make_self_signed_cert(tmp_path)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "d76@example.org", "ops@example.org", "digest"
    msg.set_content("hello")
    with SMTPServer(tls_cert=(cert, key)) as smtp:
        SMTPSender(smtp.host, smtp.port, starttls=True, ca_file=cert).send(msg)
        assert smtp.wait_messages(1)[0].message["Subject"] == "digest"
        with pytest.raises(DeliveryError) as ei:  # server requires STARTTLS first
            SMTPSender(smtp.host, smtp.port).send(msg)
        assert ei.value.permanent and ei.value.status == 530
        with pytest.raises(DeliveryError, match="TLS failed") as ei:  # unknown CA: refused
            SMTPSender(smtp.host, smtp.port, starttls=True).send(msg)
        assert ei.value.permanent


def _notices(n: int, sev: str = "P1") -> list[Notice]:
    return [Notice("firing", AlertView.from_row({
        "id": 100 + i, "alertname": "ExchangeDown", "severity": sev, "status": "firing",
        "labels": {"exchange": f"ex{i:03d}"}, "annotations": {"summary": "down", "value": "2"}})) for i in range(n)]


def test_slack_packed_message_names_alerts_within_block_kit_limits() -> None:
    with FakeSlack() as fake:
        ch = slack_channel(fake.hook_url("p2"))
        part, n = ch.render_packed(_notices(400), "p2")
        assert 50 < n < 400 and len(part.extras["payload"]["blocks"]) <= 50
        assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in part.extras["payload"]["blocks"])
        ch.send("p2", part)
        text = str(fake.posts("p2")[0]["blocks"])
        assert all(f"ex{i:03d}" in text for i in range(n))


def test_discord_packed_message_names_alerts_within_embed_limits() -> None:
    with FakeDiscord() as fake:
        ch = DiscordChannel(fake.hook_url(), LIMITS)
        part, n = ch.render_packed(_notices(400), "default")
        embed = part.extras["payload"]["embeds"][0]
        assert 50 < n < 400 and len(embed["description"]) <= 4096
        ch.send("default", part)
        assert all(f"ex{i:03d}" in fake.posts()[0]["embeds"][0]["description"] for i in range(n))
