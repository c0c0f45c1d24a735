"""The second road in the generated alertmanager.yml: the pipeline's alerts also go through
Alertmanager's own Telegram (and email) integrations, only when a deployment gives one."""
from __future__ import annotations

import pytest
import yaml

from catalog import load_catalog, render_alertmanager_config
from catalog.deploy_configs import COMPOSE_TELEGRAM_PLACEHOLDERS, render_deploy_configs
from catalog.render_alertmanager import (
    DIRECT_RECEIVER,
    DIRECT_REPEAT_INTERVAL,
    NativeEmail,
    NativeRoad,
    NativeTelegram,
    alertmanager_doc,
)
from tests.support import paths
from vocabulary import PIPELINE_SOURCE

CATALOG = load_catalog()
TELEGRAM = NativeTelegram(bot_token="123:45", chat_id=-100123, api_url="http://127.0.0.1:8081")
EMAIL = NativeEmail(to="ops@example.com, cto@example.com", sender="d76@example.com", smarthost="mail.example.com:587",
                    username="d76", password="p:w", require_tls=True)


def _doc(native: NativeRoad | None) -> dict:
    return yaml.safe_load(render_alertmanager_config(CATALOG, receiver_url="http://r:9099", bearer_token_file="t",
                                                     native=native))


def test_without_a_road_nothing_changes():
    assert not NativeRoad() and _doc(None) == _doc(NativeRoad())
    doc = _doc(None)
    assert DIRECT_RECEIVER not in {r["name"] for r in doc["receivers"]}
    assert not any("continue" in r for r in doc["route"]["routes"])


@pytest.mark.parametrize("rel", ["alertmanager/alertmanager.yml", "alertmanager/alertmanager.compose.yml",
                                 "alertmanager/alertmanager.compose-ha.yml"])
def test_the_committed_plain_configs_carry_no_road_and_no_secret(rel):
    text = (paths.REPO / rel).read_text()
    assert "telegram_configs" not in text and "bot_token" not in text and DIRECT_RECEIVER not in text


def test_the_road_is_a_first_continue_route_for_the_pipeline_source():
    doc = _doc(NativeRoad(telegram=TELEGRAM))
    first = doc["route"]["routes"][0]
    assert first == {"receiver": DIRECT_RECEIVER, "matchers": [f'source="{PIPELINE_SOURCE}"'],
                     "group_by": ["alertname"], "group_wait": CATALOG.severity_policy["P0"].group_wait,
                     "group_interval": "1m", "repeat_interval": DIRECT_REPEAT_INTERVAL, "continue": True}
    # the severity routes follow unchanged: the same alert also reaches the receiver
    assert doc["route"]["routes"][1:] == _doc(None)["route"]["routes"]
    [direct] = [r for r in doc["receivers"] if r["name"] == DIRECT_RECEIVER]
    tg = direct["telegram_configs"][0]
    assert tg["bot_token"] == "123:45" and isinstance(tg["bot_token"], str)  # quoted: not a YAML 1.1 number
    assert tg["chat_id"] == -100123 and tg["api_url"] == "http://127.0.0.1:8081"
    assert tg["parse_mode"] == "HTML" and tg["send_resolved"] is True
    assert "| html" in tg["message"] and "Annotations.action" in tg["message"]
    assert "email_configs" not in direct


def test_telegrams_own_api_is_the_default_and_email_is_optional():
    doc = alertmanager_doc(CATALOG, receiver_url="http://r", bearer_token_file=None,
                           native=NativeRoad(telegram=NativeTelegram("1:x", 42), email=EMAIL))
    [direct] = [r for r in doc["receivers"] if r["name"] == DIRECT_RECEIVER]
    assert "api_url" not in direct["telegram_configs"][0]
    mail = direct["email_configs"][0]
    assert {k: mail[k] for k in ("to", "from", "smarthost", "auth_username", "auth_password", "require_tls",
                                 "send_resolved")} == {
        "to": EMAIL.to, "from": EMAIL.sender, "smarthost": EMAIL.smarthost, "auth_username": "d76",
        "auth_password": "p:w", "require_tls": True, "send_resolved": True}
    only_mail = alertmanager_doc(CATALOG, receiver_url="http://r", bearer_token_file=None,
                                 native=NativeRoad(email=NativeEmail("a@b", "c@d", "h:25")))
    [direct] = [r for r in only_mail["receivers"] if r["name"] == DIRECT_RECEIVER]
    assert set(direct) == {"name", "email_configs"} and "auth_password" not in direct["email_configs"][0]


def test_the_compose_variants_hold_placeholders_the_entrypoint_fills():
    files = render_deploy_configs(CATALOG)
    for rel in ("alertmanager/alertmanager.compose-telegram.yml", "alertmanager/alertmanager.compose-ha-telegram.yml"):
        text = files[rel]
        for placeholder in COMPOSE_TELEGRAM_PLACEHOLDERS.values():
            assert text.count(placeholder) == 1, (rel, placeholder)
        plain = yaml.safe_load(files[rel.replace("-telegram", "")])
        doc = yaml.safe_load(text)
        assert doc["route"]["routes"][1:] == plain["route"]["routes"]
        assert doc["receivers"][:-1] == plain["receivers"]
