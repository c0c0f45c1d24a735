"""Notification settings, the channel registry and the planner's channel choice (pure)."""
from __future__ import annotations

import pytest

from webhook_receiver.notify.channel_map import DEFAULT_CHANNEL_MAP
from webhook_receiver.notify.channels import channel_names
from webhook_receiver.notify.planner import routed_channels
from webhook_receiver.notify.service import build_channels
from webhook_receiver.notify.settings import SettingsError, load_notify_settings


def test_defaults_are_off_and_dry_run() -> None:
    s = load_notify_settings({})
    assert not s.notifications_enabled and s.telegram_dry_run and not s.email_enabled
    assert s.alertmanager_url == "http://127.0.0.1:9093" and s.telegram_polling


def test_values_and_secrets_hidden_from_repr() -> None:
    s = load_notify_settings(
        {
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
    )
    assert s.notifications_enabled and not s.telegram_dry_run and not s.telegram_polling  # webhook mode
    assert s.telegram_allowed_user_ids == frozenset({1, 2}) and s.digest_hour_utc == 7
    assert s.slack_url_for("P1") == "https://hooks/p1" and s.slack_url_for("P2") == "https://hooks/x"
    text = repr(s)
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
    with pytest.raises(SettingsError, match=key):
        load_notify_settings(env)


def test_registry_lists_every_channel_module() -> None:
    assert set(channel_names()) == {"telegram", "slack", "discord", "email"}


def test_channels_follow_the_map_and_configuration() -> None:
    none = build_channels(load_notify_settings({}))
    both = build_channels(load_notify_settings({"SLACK_WEBHOOK_URL": "https://h", "DISCORD_WEBHOOK_URL": "https://d"}))
    assert sorted(none) == ["telegram"]  # the console dry run
    assert routed_channels(DEFAULT_CHANNEL_MAP, none, "P0") == ["telegram"]
    assert routed_channels(DEFAULT_CHANNEL_MAP, none, "P1") == ["telegram"]  # slack not configured
    # discord is configured but the map never names it: it follows Telegram's severities
    assert routed_channels(DEFAULT_CHANNEL_MAP, both, "P1") == ["telegram", "slack", "discord"]
    assert routed_channels(DEFAULT_CHANNEL_MAP, both, "P3") == []  # email is a digest, not per alert


def test_several_alertmanagers_and_the_external_url() -> None:
    s = load_notify_settings({"ALERTMANAGER_URL": "http://127.0.0.1:9093/, http://127.0.0.1:9193",
                              "RECEIVER_EXTERNAL_URL": "https://alerts.example.com/"})
    assert s.alertmanager_urls == ("http://127.0.0.1:9093", "http://127.0.0.1:9193")
    assert s.external_url == "https://alerts.example.com"
