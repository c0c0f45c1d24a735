"""The native runner renders the direct road from the receivers' own Telegram and SMTP settings."""
from __future__ import annotations

import stat

import pytest
import yaml

from catalog.render_alertmanager import DIRECT_RECEIVER, NativeEmail, NativeRoad, NativeTelegram
from local_stack.render import direct_road_names, native_road
from local_stack.runner import Stack, StackConfig

BOT = {"TELEGRAM_BOT_TOKEN": "123456:AAE-x", "TELEGRAM_CHAT_ID": "-1001234", "TELEGRAM_API_URL": "http://127.0.0.1:7"}


@pytest.fixture(autouse=True)
def _no_bot_here(monkeypatch):
    for key in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "TELEGRAM_API_URL", "SMTP_HOST", "ALERT_EMAIL_TO",
                "ALERT_EMAIL_FROM"):
        monkeypatch.delenv(key, raising=False)


def _stack(tmp_path, env: dict[str, str]) -> Stack:
    stack = Stack(StackConfig(state_dir=tmp_path / "s", receiver_env=env))
    stack.state.mkdir(parents=True)
    stack._render()
    stack._write_manifest()
    return stack


def test_native_road_from_the_receivers_settings():
    assert native_road(BOT) == NativeRoad(telegram=NativeTelegram("123456:AAE-x", -1001234, "http://127.0.0.1:7"))
    # Telegram's own API is the default: not written
    assert native_road({**BOT, "TELEGRAM_API_URL": ""}).telegram == NativeTelegram("123456:AAE-x", -1001234)
    assert not native_road({})
    assert not native_road({"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_CHAT_ID": "@alerts"})  # 0.25: numeric ids only
    assert not native_road({"TELEGRAM_CHAT_ID": "42"})
    assert not native_road({**BOT, "TELEGRAM_API_URL": "not a url"})  # the receiver refuses it and says why
    mail = native_road({"SMTP_HOST": "mail", "SMTP_PORT": "587", "SMTP_USER": "u", "SMTP_PASSWORD": "pw",
                        "SMTP_STARTTLS": "true", "ALERT_EMAIL_FROM": "d76@x", "ALERT_EMAIL_TO": "a@x;b@x"})
    assert mail == NativeRoad(email=NativeEmail(to="a@x, b@x", sender="d76@x", smarthost="mail:587", username="u",
                                                password="pw", require_tls=True))
    assert direct_road_names(mail) == ["email to a@x, b@x"]


def test_the_stack_writes_the_road_into_a_private_config(tmp_path):
    stack = _stack(tmp_path, BOT)
    path = stack.rendered.alertmanager_config
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the bot token is in it
    doc = yaml.safe_load(path.read_text())
    [direct] = [r for r in doc["receivers"] if r["name"] == DIRECT_RECEIVER]
    assert direct["telegram_configs"][0]["bot_token"] == BOT["TELEGRAM_BOT_TOKEN"]
    assert direct["telegram_configs"][0]["api_url"] == BOT["TELEGRAM_API_URL"]
    assert stack.notes()[-1] == ("pipeline alerts (receiver down, ...) also go from Alertmanager directly to "
                                 "telegram chat -1001234")
    assert BOT["TELEGRAM_BOT_TOKEN"] not in stack.manifest_path.read_text()


def test_without_a_bot_the_config_has_no_road(tmp_path):
    stack = _stack(tmp_path, {"TELEGRAM_CHAT_ID": "-1001234"})
    text = stack.rendered.alertmanager_config.read_text()
    assert DIRECT_RECEIVER not in text
    assert stack.notes()[-1].startswith("no direct road: ")
