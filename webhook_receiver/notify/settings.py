"""The core notification settings (delivery, the dead man's switch, graphs, the digest's hour), parsed
once from the receiver's raw settings (environment and config file).

Each channel declares and parses its own settings in its module (`Channel.settings`); they are read
from the same raw mapping, which travels here as `NotifySettings.raw`. Whether notifications are on
by default depends on whether any channel is configured: the keys come from the channel registry,
so a new channel adds its own.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vocabulary import DEFAULT_ALERTMANAGER_URL, SEVERITIES, Severity

from ..setting_parsers import (
    Raw,
    SettingsError,
    flag,
    integer,
    items,
    load,
    number,
    parse_list,
    parse_str,
    parse_url,
    setting,
    text,
    url,
)
from ..settings import parse_alertmanager_urls

__all__ = ["NotifySettings", "SettingsError", "load_notify_settings"]


def _any_channel_configured(raw: Raw) -> bool:
    from .channels import channel_classes

    return any(parse_str(raw, key) for cls in channel_classes().values() for key in cls.settings_keys)


def _severities(raw: Raw, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    sevs = items(raw, key, default)
    for sev in sevs:
        if sev not in SEVERITIES:
            raise SettingsError(f"{key}: {sev!r} is not one of {', '.join(SEVERITIES)}")
    return sevs


@dataclass(frozen=True)
class NotifySettings:
    notifications_enabled: bool = setting(
        "NOTIFICATIONS_ENABLED", True, "queue and send notifications (`d76 receiver` turns them on)", flag,
        derive=_any_channel_configured, show="true when a channel is configured")
    channel_map_path: str | None = setting("CHANNEL_MAP_FILE", None, "the channel map (severity -> channels, "
                                           "shares, routes); unset: the one packaged with the receiver", text)
    external_url: str | None = setting("RECEIVER_EXTERNAL_URL", None, "the receiver's public URL: history links "
                                       "in messages", url)
    # graphs in the page: PNGs of the alert's expression (Prometheus query_range), sent as a reply
    prometheus_url: str | None = setting("PROMETHEUS_URL", None, "the Prometheus graphs are drawn from", url)
    graphs_enabled: bool = setting(
        "GRAPHS_ENABLED", False, "send a graph after a page", flag,
        derive=lambda raw: parse_url(raw, "PROMETHEUS_URL") is not None, show="true when PROMETHEUS_URL is set")
    graph_severities: tuple[str, ...] = setting("GRAPH_SEVERITIES", (Severity.P0.value, Severity.P1.value),
                                                "severities whose pages get a graph", _severities)
    graph_window_seconds: float = setting("GRAPH_WINDOW_SECONDS", 1800.0, "the time a graph spans",
                                          number(60.0, 86400.0))
    graph_timeout_seconds: float = setting("GRAPH_TIMEOUT_SECONDS", 5.0, "timeout of the range query",
                                           number(0.1, 60.0))
    deadman_timeout_seconds: float = setting("DEADMAN_TIMEOUT_SECONDS", 300.0, "the pipeline is told down when "
                                             "Watchdog has not arrived for this long", number(1, 86400 * 7))
    deadman_enabled: bool = setting("DEADMAN_ENABLED", True, "run the dead man's switch", flag)
    # a silence (one-off mute) that runs out while alerts it covered still fire is told once (silence_watch)
    mute_expiry_notice: bool = setting(
        "MUTE_EXPIRY_NOTICE", False, "tell the pager's chat once when a silence runs out while its alerts still "
        "fire", flag, derive=lambda raw: bool(parse_list(raw, "ALERTMANAGER_URL")),
        show="true when ALERTMANAGER_URL is set")
    mute_expiry_check_seconds: float = setting("MUTE_EXPIRY_CHECK_SECONDS", 10.0, "how often Alertmanager's "
                                               "silences are looked at for that", number(0.05, 3600.0))
    digest_hour_utc: int = setting("DIGEST_HOUR_UTC", 8, "the hour (UTC) the daily digest is queued",
                                   integer(0, 23))
    # the dispatcher
    dispatcher_poll_seconds: float = setting("NOTIFY_POLL_SECONDS", 0.25, "how often the dispatcher looks for "
                                             "work it was not woken for", number(0.01, 60))
    lane_lease_seconds: float = setting("NOTIFY_LANE_LEASE_SECONDS", 8.0, "lease of a lane (one receiver "
                                        "delivers it); a dead holder's lanes move after this",
                                        number(1.0, 600.0))
    max_failures: int = setting("NOTIFY_MAX_FAILURES", 10, "real failures (not rate limits) before a "
                                "notification is given up", integer(1, 1000))
    backoff_base_seconds: float = setting("NOTIFY_BACKOFF_BASE_SECONDS", 1.0, "first back-off of a lane after a "
                                          "failure (doubling)", number(0.01, 600.0))
    backoff_cap_seconds: float = setting("NOTIFY_BACKOFF_CAP_SECONDS", 30.0, "longest back-off of a lane",
                                         number(0.01, 3600.0))
    full_within_seconds: float = setting(
        "NOTIFY_FULL_WITHIN_SECONDS", 5.0, "firing alerts are told in full, one message each, while a lane could "
        "send every one waiting within this many seconds; more are packed into one message (0: packed as soon as "
        "two wait)", number(0.0, 600.0))
    name_bound: int = setting("NOTIFY_NAME_BOUND", 200, "alerts of one name a packed message names; beyond, "
                              "they are counted", integer(1, 100_000))
    # read by the receiver's settings (ALERTMANAGER_URL is parsed in one place)
    alertmanager_urls: tuple[str, ...] = (DEFAULT_ALERTMANAGER_URL,)
    # every raw value: each channel reads its own settings from here (secrets inside: never printed)
    raw: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def alertmanager_url(self) -> str:
        return self.alertmanager_urls[0]


def load_notify_settings(raw: Mapping[str, Any] | None = None) -> NotifySettings:
    """Build from a mapping of raw string values (the receiver's `settings.raw`; default os.environ).
    Every registered channel's settings are read too, so a bad value is reported here, naming it."""
    from .channels import channel_classes

    src: Mapping[str, Any] = os.environ if raw is None else raw
    r = {k: str(v) for k, v in src.items() if v is not None}
    settings = load(NotifySettings, r, alertmanager_urls=parse_alertmanager_urls(r)[0], raw=r)
    if settings.graphs_enabled and settings.prometheus_url is None:
        raise SettingsError("GRAPHS_ENABLED: graphs need PROMETHEUS_URL (the Prometheus to ask for the series)")
    for cls in channel_classes().values():
        load(cls.settings, r)
    return settings
