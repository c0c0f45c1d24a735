"""Notification settings: the core ones and each channel's own, the channel registry, the planner's
channel choice, and the listing of every setting of the receiver (pure)."""
from __future__ import annotations

import dataclasses

import pytest

from webhook_receiver.configuration import all_settings, settings_by_owner
from webhook_receiver.notify.channel_map import DEFAULT_CHANNEL_MAP
from webhook_receiver.notify.channels import channel_classes, channel_names
from webhook_receiver.notify.channels.email import EmailSettings
from webhook_receiver.notify.channels.slack import SlackSettings
from webhook_receiver.notify.channels.telegram import TelegramSettings
from webhook_receiver.notify.planner import routed_channels
from webhook_receiver.notify.service import build_channels
from webhook_receiver.notify.settings import NotifySettings, SettingsError, load_notify_settings
from webhook_receiver.setting_parsers import load


def test_defaults_are_off_and_dry_run() -> None:
    s = load_notify_settings({})
    tg, email = load(TelegramSettings, s.raw), load(EmailSettings, s.raw)
    assert not s.notifications_enabled and tg.dry_run and not email.enabled
    assert s.alertmanager_url == "http://127.0.0.1:9093" and tg.polling


def test_values_and_secrets_hidden_from_repr() -> None:
    raw = {
        "TELEGRAM_BOT_TOKEN": "123:SECRET",
        "TELEGRAM_CHAT_ID": "-100",
        "TELEGRAM_ALLOWED_USER_IDS": "1, 2",
        "SLACK_WEBHOOK_URL": "https://hooks/x",
        "SLACK_WEBHOOK_URL_P1": "https://hooks/p1",
        "SMTP_PASSWORD": "pw",
        "TELEGRAM_WEBHOOK_SECRET": "whs",
        "DIGEST_HOUR_UTC": "7",
        "DEADMAN_TIMEOUT_SECONDS": "90",
    }
    s = load_notify_settings(raw)
    tg, slack, email = load(TelegramSettings, raw), load(SlackSettings, raw), load(EmailSettings, raw)
    assert s.notifications_enabled and not tg.dry_run and not tg.polling  # webhook mode
    assert tg.allowed_user_ids == frozenset({1, 2}) and s.digest_hour_utc == 7
    assert slack.url_for("P1") == "https://hooks/p1" and slack.url_for("P2") == "https://hooks/x"
    text = repr(s) + repr(tg) + repr(slack) + repr(email)
    for secret in ("123:SECRET", "https://hooks", "pw'", "whs"):
        assert secret not in text


@pytest.mark.parametrize("env,key", [({"DIGEST_HOUR_UTC": "25"}, "DIGEST_HOUR_UTC"),
                                     ({"TELEGRAM_ALLOWED_USER_IDS": "bob"}, "TELEGRAM_ALLOWED_USER_IDS"),
                                     ({"DEADMAN_TIMEOUT_SECONDS": "soon"}, "DEADMAN_TIMEOUT_SECONDS"),
                                     ({"NOTIFICATIONS_ENABLED": "maybe"}, "NOTIFICATIONS_ENABLED"),
                                     ({"SLACK_WEBHOOK_URL": "ftp://x"}, "SLACK_WEBHOOK_URL"),
                                     ({"ALERTMANAGER_URL": "am:9093"}, "ALERTMANAGER_URL"),
                                     ({"TELEGRAM_CHAT_PER_MINUTE": "0"}, "TELEGRAM_CHAT_PER_MINUTE")])
def test_bad_values_name_the_variable(env: dict, key: str) -> None:
    with pytest.raises(SettingsError, match=key):  # a channel's own settings are checked here too
        load_notify_settings(env)


def test_registry_lists_every_channel_module() -> None:
    assert set(channel_names()) == {"telegram", "slack", "discord", "email", "webhook"}


def test_channels_follow_the_map_and_configuration() -> None:
    none = build_channels(load_notify_settings({}))
    both = build_channels(load_notify_settings({"SLACK_WEBHOOK_URL": "https://h", "DISCORD_WEBHOOK_URL": "https://d"}))
    assert sorted(none) == ["telegram"]  # the console dry run
    assert routed_channels(DEFAULT_CHANNEL_MAP, none, "P0") == ["telegram"]
    assert routed_channels(DEFAULT_CHANNEL_MAP, none, "P1") == ["telegram"]  # slack not configured
    # discord is configured but the map never names it: it follows the pager's (Telegram's) severities
    assert routed_channels(DEFAULT_CHANNEL_MAP, both, "P1") == ["telegram", "slack", "discord"]
    assert routed_channels(DEFAULT_CHANNEL_MAP, both, "P3") == []  # email is a digest, not per alert


def test_several_alertmanagers_and_the_external_url() -> None:
    s = load_notify_settings({"ALERTMANAGER_URL": "http://127.0.0.1:9093/, http://127.0.0.1:9193",
                              "RECEIVER_EXTERNAL_URL": "https://alerts.example.com/"})
    assert s.alertmanager_urls == ("http://127.0.0.1:9093", "http://127.0.0.1:9193")
    assert s.external_url == "https://alerts.example.com"


def test_each_channel_declares_its_settings_in_its_module() -> None:
    """A channel's variables are read by its own settings class, never by the core's."""
    core = {row.name for row in settings_by_owner()["notify"]}
    for name, cls in channel_classes().items():
        own = {row.name for row in settings_by_owner()[f"channel {name}"]}
        assert own and set(cls.settings_keys) <= own and not own & core, name
        assert cls.settings.__module__.startswith(cls.__module__), name
        assert dataclasses.is_dataclass(cls.settings)


def test_every_setting_listed_once_with_its_default_and_meaning() -> None:
    rows = all_settings()
    names = [r.name for r in rows]
    assert len(names) == len(set(names))
    assert all(r.meaning for r in rows)
    by_name = {r.name: r for r in rows}
    assert by_name["DATABASE_URL"].default == "sqlite:///d76-alerts.sqlite3"
    assert by_name["TELEGRAM_CHAT_MIN_INTERVAL_SECONDS"].default == "1.05"
    assert by_name["HISTORY_RETENTION_DAYS"].default == "90"
    assert by_name["SLACK_WEBHOOK_URL_P2"].default == ""
    assert by_name["GRAPHS_ENABLED"].default == "true when PROMETHEUS_URL is set"
    for group in ("receiver", "notify", "history", "channel telegram", "channel slack", "channel discord",
                  "channel email"):
        assert settings_by_owner()[group], group
    # the defaults in the listing are the defaults the parsers apply
    declared = {f.name: f.default for f in dataclasses.fields(NotifySettings)}
    assert by_name["NOTIFY_NAME_BOUND"].default == str(declared["name_bound"])
