"""Notification settings, read from the receiver's raw settings (`settings.raw`) or any mapping.

Secrets (bot token, webhook URLs, SMTP password) are kept out of `repr`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

# one set of parsers and one error type for every receiver setting
from ..settings import SettingsError
from ..settings import _bool
from ..settings import _float as _num

__all__ = ["NotifySettings", "SettingsError", "load_notify_settings"]


# With none of these set and NOTIFICATIONS_ENABLED unset, notifications stay off (a bare
# `create_app` in a test queues nothing); NOTIFICATIONS_ENABLED=true gives the console dry run.
CHANNEL_KEYS = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "SLACK_WEBHOOK_URL", "SLACK_WEBHOOK_URL_P0",
                "SLACK_WEBHOOK_URL_P1", "SLACK_WEBHOOK_URL_P2", "SLACK_WEBHOOK_URL_P3", "DISCORD_WEBHOOK_URL",
                "SMTP_HOST")


@dataclass(frozen=True)
class NotifySettings:
    telegram_bot_token: str | None = field(default=None, repr=False)
    telegram_chat_id: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_secret: str | None = field(default=None, repr=False)
    telegram_allowed_user_ids: frozenset[int] = frozenset()
    telegram_polling: bool = True
    slack_webhook_url: str | None = field(default=None, repr=False)
    slack_webhook_urls: Mapping[str, str] = field(default_factory=dict, repr=False)
    discord_webhook_url: str | None = field(default=None, repr=False)
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_starttls: bool = False
    smtp_ca_file: str | None = None
    alert_email_from: str | None = None
    alert_email_to: tuple[str, ...] = ()
    digest_hour_utc: int = 8
    alertmanager_url: str = "http://127.0.0.1:9093"
    deadman_timeout_seconds: float = 300.0
    channel_map_path: str | None = None
    notifications_enabled: bool = True
    dispatcher_poll_seconds: float = 0.5
    summary_interval_seconds: float = 15.0
    telegram_poll_timeout: int = 25
    deadman_enabled: bool = True

    @property
    def telegram_dry_run(self) -> bool:
        return not self.telegram_bot_token

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host and self.alert_email_from and self.alert_email_to)

    def slack_url_for(self, severity: str) -> str | None:
        return self.slack_webhook_urls.get(severity) or self.slack_webhook_url


def load_notify_settings(raw: Mapping[str, Any] | None = None) -> NotifySettings:
    """Build from a mapping of raw string values (the receiver's `settings.raw`; default os.environ)."""
    src: Mapping[str, Any] = os.environ if raw is None else raw
    r = {k: str(v) for k, v in src.items() if v is not None}
    g = lambda k: (r.get(k) or "").strip() or None  # noqa: E731
    users: set[int] = set()
    for part in (g("TELEGRAM_ALLOWED_USER_IDS") or "").replace(";", ",").split(","):
        part = part.strip()
        if part:
            if not part.lstrip("-").isdigit():
                raise SettingsError(f"TELEGRAM_ALLOWED_USER_IDS: {part!r} is not a numeric user id")
            users.add(int(part))
    slack_sev = {sev: g(f"SLACK_WEBHOOK_URL_{sev}") for sev in ("P0", "P1", "P2", "P3")}
    to = tuple(a.strip() for a in (g("ALERT_EMAIL_TO") or "").split(",") if a.strip())
    return NotifySettings(
        telegram_bot_token=g("TELEGRAM_BOT_TOKEN"),
        telegram_chat_id=g("TELEGRAM_CHAT_ID"),
        telegram_api_url=g("TELEGRAM_API_URL") or "https://api.telegram.org",
        telegram_webhook_secret=g("TELEGRAM_WEBHOOK_SECRET"),
        telegram_allowed_user_ids=frozenset(users),
        telegram_polling=_bool(r, "TELEGRAM_POLLING", g("TELEGRAM_WEBHOOK_SECRET") is None),
        slack_webhook_url=g("SLACK_WEBHOOK_URL"),
        slack_webhook_urls={k: v for k, v in slack_sev.items() if v},
        discord_webhook_url=g("DISCORD_WEBHOOK_URL"),
        smtp_host=g("SMTP_HOST"),
        smtp_port=int(_num(r, "SMTP_PORT", 25, 1, 65535)),
        smtp_user=g("SMTP_USER"),
        smtp_password=g("SMTP_PASSWORD"),
        smtp_starttls=_bool(r, "SMTP_STARTTLS", False),
        smtp_ca_file=g("SMTP_CA_FILE"),
        alert_email_from=g("ALERT_EMAIL_FROM"),
        alert_email_to=to,
        digest_hour_utc=int(_num(r, "DIGEST_HOUR_UTC", 8, 0, 23)),
        alertmanager_url=(g("ALERTMANAGER_URL") or "http://127.0.0.1:9093").rstrip("/"),
        deadman_timeout_seconds=_num(r, "DEADMAN_TIMEOUT_SECONDS", 300, 1, 86400 * 7),
        channel_map_path=g("CHANNEL_MAP_FILE"),
        notifications_enabled=_bool(r, "NOTIFICATIONS_ENABLED", any(g(k) for k in CHANNEL_KEYS)),
        dispatcher_poll_seconds=_num(r, "NOTIFY_POLL_SECONDS", 0.5, 0.01, 60),
        summary_interval_seconds=_num(r, "NOTIFY_SUMMARY_INTERVAL_SECONDS", 15, 0, 3600),
        telegram_poll_timeout=int(_num(r, "TELEGRAM_POLL_TIMEOUT", 25, 0, 50)),
        deadman_enabled=_bool(r, "DEADMAN_ENABLED", True),
    )
