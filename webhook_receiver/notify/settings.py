"""Every notification setting, parsed once from the receiver's raw settings (environment and config
file). Secrets (bot token, webhook URLs, SMTP password) are kept out of `repr`.

Whether notifications are on by default depends on whether any channel is configured: the keys
come from the channel registry, so a new channel adds its own.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vocabulary import DEFAULT_ALERTMANAGER_URL, SEVERITIES

from ..setting_parsers import SettingsError, parse_bool, parse_float, parse_int, parse_list, parse_str
from ..settings import parse_alertmanager_urls

__all__ = ["NotifySettings", "SettingsError", "load_notify_settings"]



@dataclass(frozen=True)
class NotifySettings:
    # Telegram
    telegram_bot_token: str | None = field(default=None, repr=False)
    telegram_chat_id: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_secret: str | None = field(default=None, repr=False)
    telegram_allowed_user_ids: frozenset[int] = frozenset()
    telegram_polling: bool = True
    telegram_poll_timeout: int = 25
    # Telegram's own limits (the only hard budget): ~1 message a second and 20 a minute per group
    # chat, ~30 a second per bot; a few of a chat's per-minute slots are kept for P0
    telegram_chat_min_interval: float = 1.05
    telegram_chat_per_minute: int = 20
    telegram_global_per_second: float = 30.0
    telegram_p0_reserve_per_minute: int = 3
    # where the console dry run saves the photos (graphs) it would have sent
    telegram_dry_run_dir: str | None = None
    # the command list registered with setMyCommands at start
    telegram_set_commands: bool = True
    # Slack and Discord incoming webhooks
    slack_webhook_url: str | None = field(default=None, repr=False)
    slack_webhook_urls: Mapping[str, str] = field(default_factory=dict, repr=False)
    slack_min_interval: float = 1.05
    discord_webhook_url: str | None = field(default=None, repr=False)
    discord_min_interval: float = 0.5
    discord_per_minute: int = 30
    # email digest
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_starttls: bool = False
    smtp_ca_file: str | None = None
    alert_email_from: str | None = None
    alert_email_to: tuple[str, ...] = ()
    digest_hour_utc: int = 8
    # the rest of the pipeline
    alertmanager_urls: tuple[str, ...] = (DEFAULT_ALERTMANAGER_URL,)
    external_url: str | None = None
    # graphs in the page: PNGs of the alert's expression (Prometheus query_range), sent as a reply
    prometheus_url: str | None = None
    graphs_enabled: bool = False
    graph_severities: tuple[str, ...] = ("P0", "P1")
    graph_window_seconds: float = 1800.0
    graph_timeout_seconds: float = 5.0
    deadman_timeout_seconds: float = 300.0
    deadman_enabled: bool = True
    channel_map_path: str | None = None
    # the dispatcher
    notifications_enabled: bool = True
    dispatcher_poll_seconds: float = 0.25
    lane_lease_seconds: float = 8.0
    max_failures: int = 10
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 30.0
    name_bound: int = 200

    @property
    def alertmanager_url(self) -> str:
        return self.alertmanager_urls[0]

    @property
    def telegram_dry_run(self) -> bool:
        return not self.telegram_bot_token

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host and self.alert_email_from and self.alert_email_to)

    def slack_url_for(self, severity: str) -> str | None:
        return self.slack_webhook_urls.get(severity) or self.slack_webhook_url


D = NotifySettings()  # the defaults, written once (in the dataclass)


def _url(raw: Mapping[str, str], key: str) -> str | None:
    v = parse_str(raw, key)
    if v is not None and not v.startswith(("http://", "https://")):
        raise SettingsError(f"{key}: expected an http(s) URL")
    return v.rstrip("/") if v else None


def _channel_keys() -> tuple[str, ...]:
    from .channels import channel_classes

    return tuple(k for cls in channel_classes().values() for k in getattr(cls, "settings_keys", ()))


def load_notify_settings(raw: Mapping[str, Any] | None = None) -> NotifySettings:
    """Build from a mapping of raw string values (the receiver's `settings.raw`; default os.environ)."""
    src: Mapping[str, Any] = os.environ if raw is None else raw
    r = {k: str(v) for k, v in src.items() if v is not None}
    users: set[int] = set()
    for part in parse_list(r, "TELEGRAM_ALLOWED_USER_IDS"):
        if not part.lstrip("-").isdigit():
            raise SettingsError(f"TELEGRAM_ALLOWED_USER_IDS: {part!r} is not a numeric user id")
        users.add(int(part))
    slack_sev = {sev: _url(r, f"SLACK_WEBHOOK_URL_{sev}") for sev in SEVERITIES}
    am_urls, _ = parse_alertmanager_urls(r)  # parsed in one place: the receiver's settings
    webhook_secret = parse_str(r, "TELEGRAM_WEBHOOK_SECRET")
    prometheus_url = _url(r, "PROMETHEUS_URL")
    graph_sevs = parse_list(r, "GRAPH_SEVERITIES") or D.graph_severities
    for sev in graph_sevs:
        if sev not in SEVERITIES:
            raise SettingsError(f"GRAPH_SEVERITIES: {sev!r} is not one of {', '.join(SEVERITIES)}")
    settings = NotifySettings(
        telegram_bot_token=parse_str(r, "TELEGRAM_BOT_TOKEN"),
        telegram_chat_id=parse_str(r, "TELEGRAM_CHAT_ID"),
        telegram_api_url=_url(r, "TELEGRAM_API_URL") or D.telegram_api_url,
        telegram_webhook_secret=webhook_secret,
        telegram_allowed_user_ids=frozenset(users),
        telegram_polling=parse_bool(r, "TELEGRAM_POLLING", webhook_secret is None),
        telegram_poll_timeout=parse_int(r, "TELEGRAM_POLL_TIMEOUT", D.telegram_poll_timeout, 0, 50),
        telegram_chat_min_interval=parse_float(r, "TELEGRAM_CHAT_MIN_INTERVAL_SECONDS", D.telegram_chat_min_interval,
                                               0.0, 60.0),
        telegram_chat_per_minute=parse_int(r, "TELEGRAM_CHAT_PER_MINUTE", D.telegram_chat_per_minute, 1, 10_000),
        telegram_global_per_second=parse_float(r, "TELEGRAM_GLOBAL_PER_SECOND", D.telegram_global_per_second,
                                               0.0, 10_000.0),
        telegram_p0_reserve_per_minute=parse_int(r, "TELEGRAM_P0_RESERVE_PER_MINUTE", D.telegram_p0_reserve_per_minute,
                                                 0, 10_000),
        telegram_dry_run_dir=parse_str(r, "TELEGRAM_DRY_RUN_DIR"),
        telegram_set_commands=parse_bool(r, "TELEGRAM_SET_COMMANDS", D.telegram_set_commands),
        slack_webhook_url=_url(r, "SLACK_WEBHOOK_URL"),
        slack_webhook_urls={k: v for k, v in slack_sev.items() if v},
        slack_min_interval=parse_float(r, "SLACK_MIN_INTERVAL_SECONDS", D.slack_min_interval, 0.0, 60.0),
        discord_webhook_url=_url(r, "DISCORD_WEBHOOK_URL"),
        discord_min_interval=parse_float(r, "DISCORD_MIN_INTERVAL_SECONDS", D.discord_min_interval, 0.0, 60.0),
        discord_per_minute=parse_int(r, "DISCORD_PER_MINUTE", D.discord_per_minute, 1, 10_000),
        smtp_host=parse_str(r, "SMTP_HOST"),
        smtp_port=parse_int(r, "SMTP_PORT", D.smtp_port, 1, 65535),
        smtp_user=parse_str(r, "SMTP_USER"),
        smtp_password=parse_str(r, "SMTP_PASSWORD"),
        smtp_starttls=parse_bool(r, "SMTP_STARTTLS", D.smtp_starttls),
        smtp_ca_file=parse_str(r, "SMTP_CA_FILE"),
        alert_email_from=parse_str(r, "ALERT_EMAIL_FROM"),
        alert_email_to=parse_list(r, "ALERT_EMAIL_TO"),
        digest_hour_utc=parse_int(r, "DIGEST_HOUR_UTC", D.digest_hour_utc, 0, 23),
        alertmanager_urls=am_urls,
        external_url=_url(r, "RECEIVER_EXTERNAL_URL"),
        prometheus_url=prometheus_url,
        # graphs need a Prometheus to ask: on when PROMETHEUS_URL is set, unless GRAPHS_ENABLED=false
        graphs_enabled=parse_bool(r, "GRAPHS_ENABLED", prometheus_url is not None),
        graph_severities=tuple(graph_sevs),
        graph_window_seconds=parse_float(r, "GRAPH_WINDOW_SECONDS", D.graph_window_seconds, 60.0, 86400.0),
        graph_timeout_seconds=parse_float(r, "GRAPH_TIMEOUT_SECONDS", D.graph_timeout_seconds, 0.1, 60.0),
        deadman_timeout_seconds=parse_float(r, "DEADMAN_TIMEOUT_SECONDS", D.deadman_timeout_seconds, 1, 86400 * 7),
        deadman_enabled=parse_bool(r, "DEADMAN_ENABLED", D.deadman_enabled),
        channel_map_path=parse_str(r, "CHANNEL_MAP_FILE"),
        notifications_enabled=parse_bool(r, "NOTIFICATIONS_ENABLED", any(parse_str(r, k) for k in _channel_keys())),
        dispatcher_poll_seconds=parse_float(r, "NOTIFY_POLL_SECONDS", D.dispatcher_poll_seconds, 0.01, 60),
        lane_lease_seconds=parse_float(r, "NOTIFY_LANE_LEASE_SECONDS", D.lane_lease_seconds, 1.0, 600.0),
        max_failures=parse_int(r, "NOTIFY_MAX_FAILURES", D.max_failures, 1, 1000),
        backoff_base_seconds=parse_float(r, "NOTIFY_BACKOFF_BASE_SECONDS", D.backoff_base_seconds, 0.01, 600.0),
        backoff_cap_seconds=parse_float(r, "NOTIFY_BACKOFF_CAP_SECONDS", D.backoff_cap_seconds, 0.01, 3600.0),
        name_bound=parse_int(r, "NOTIFY_NAME_BOUND", D.name_bound, 1, 100_000),
    )
    if settings.graphs_enabled and settings.prometheus_url is None:
        raise SettingsError("GRAPHS_ENABLED: graphs need PROMETHEUS_URL (the Prometheus to ask for the series)")
    return settings
