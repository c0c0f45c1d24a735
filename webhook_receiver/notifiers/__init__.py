"""Notification channels: Telegram (HTML formatting + Bot API client), Slack, Discord, email digest,
console dry run; plus the channel map and settings they read.

Everything here is independent of the store: the dispatcher (`webhook_receiver.dispatcher`) feeds
channels `AlertView`s built from stored rows.
"""
from .channel_map import DEFAULT_CHANNEL_MAP, ChannelMap, load_channel_map, parse_channel_map
from .console import ConsoleTelegram
from .email_digest import DigestContent, SMTPSender, build_digest, render_digest_email
from .errors import DeliveryError
from .model import AlertView, format_duration, severity_rank
from .settings import NotifySettings, SettingsError, load_notify_settings
from .telegram import TelegramClient
from .telegram_format import (
    SEVERITY_EMOJI, TELEGRAM_MAX_CHARS, alert_keyboard, callback_data, format_acked, format_alert,
    format_deadman, format_resolved, format_summary, parse_callback_data, truncate_html, visible_length,
)
from .webhooks import DiscordWebhook, SlackWebhook, discord_payload, slack_payload

__all__ = [
    "AlertView", "ChannelMap", "ConsoleTelegram", "DEFAULT_CHANNEL_MAP", "DeliveryError", "DigestContent",
    "DiscordWebhook", "NotifySettings", "SEVERITY_EMOJI", "SMTPSender", "SettingsError", "SlackWebhook",
    "TELEGRAM_MAX_CHARS", "TelegramClient", "alert_keyboard", "build_digest", "callback_data",
    "discord_payload", "format_acked", "format_alert", "format_deadman", "format_duration",
    "format_resolved", "format_summary", "load_channel_map", "load_notify_settings", "parse_callback_data",
    "parse_channel_map", "render_digest_email", "severity_rank", "slack_payload", "truncate_html",
    "visible_length",
]
