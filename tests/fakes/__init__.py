"""Local servers that speak the real protocols of external services, for tests and benchmarks.

    with FakeTelegram() as tg:          # Bot API: sendMessage, editMessageText, answerCallbackQuery, getUpdates
        env["TELEGRAM_API_URL"] = tg.api_url; env["TELEGRAM_BOT_TOKEN"] = tg.token
        ...; tg.wait_messages(1); tg.rate_limit(retry_after=1); tg.press_button("ack:7", chat_id=..., message_id=1)

`am_alert(...)` / `am_payload(...)` build Alertmanager webhook v4 bodies.
All bind 127.0.0.1 on a free port, record what they receive, accept injected faults
(`inject(Fault(...))`: status codes, timeouts, dropped connections) and stop cleanly.
"""
from .base import FakeHTTPServer, Fault, RecordedRequest
from .payloads import am_alert, am_payload
from .smtp import ReceivedMail, SMTPServer
from .telegram import FakeTelegram, SentMessage, TelegramHTMLError, parse_telegram_html
from .webhooks import FakeDiscord, FakeSlack

__all__ = [
    "FakeDiscord", "FakeHTTPServer", "FakeSlack", "FakeTelegram", "Fault", "RecordedRequest",
    "ReceivedMail", "SMTPServer", "SentMessage", "TelegramHTMLError", "am_alert", "am_payload",
    "parse_telegram_html",
]
