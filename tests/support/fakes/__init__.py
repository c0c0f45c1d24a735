"""Local servers that speak the real protocols of external services, for tests and benchmarks.

    with FakeTelegram() as tg:          # Bot API: sendMessage, sendPhoto, editMessageText, answerCallbackQuery,
        env["TELEGRAM_API_URL"] = tg.api_url   # getUpdates, getMe, setMyCommands; forum topics
        env["TELEGRAM_BOT_TOKEN"] = tg.token
        ...; tg.wait_messages(1); tg.rate_limit(retry_after=1); tg.press_button("ack:7", chat_id=..., message_id=1)
        msg = tg.send_command("/status", chat_id=...); tg.wait_reply(chat, msg["message_id"]); tg.wait_photos(1)

    with FakeHeartbeat() as hb:          # healthchecks.io pings and Uptime Kuma pushes
        check = hb.hc_check(); env["HEARTBEAT_URL"] = hb.hc_url(check); hb.wait_ping(check, "fail")

`am_alert(...)` / `am_payload(...)` build Alertmanager webhook v4 bodies.
All bind 127.0.0.1 on a free port, record what they receive, accept injected faults
(`inject(Fault(...))`: status codes, timeouts, dropped connections) and stop cleanly.
"""
from .base import FakeHTTPServer, Fault, RecordedRequest
from .heartbeat import FakeHeartbeat, Ping
from .payloads import am_alert, am_payload
from .smtp import ReceivedMail, SMTPServer
from .telegram import FakeTelegram, SentMessage, SentPhoto, TelegramHTMLError, check_png, parse_telegram_html
from .webhooks import FakeDiscord, FakeSlack

__all__ = [
    "FakeDiscord", "FakeHeartbeat", "FakeHTTPServer", "FakeSlack", "Ping", "FakeTelegram", "Fault", "RecordedRequest",
    "ReceivedMail", "SMTPServer", "SentMessage", "SentPhoto", "TelegramHTMLError", "am_alert", "am_payload",
    "check_png", "parse_telegram_html",
]
