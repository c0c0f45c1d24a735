"""Start-up warnings: channels configured but never routed by the channel map, routes to channels not
configured; `d76 receiver --check-config` prints them (and the errors of invalid settings) and exits."""
from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from d76_cli.main import cli
from webhook_receiver.notify.routing_check import check_routing
from webhook_receiver.notify.settings import load_notify_settings

SLACK = "https://hooks.slack.com/services/T000/B000/very-secret-path"
TELEGRAM = {"TELEGRAM_BOT_TOKEN": "123:very-secret-token", "TELEGRAM_CHAT_ID": "-1001"}
SMTP = {"SMTP_HOST": "127.0.0.1", "ALERT_EMAIL_FROM": "d76@example.org", "ALERT_EMAIL_TO": "ops@example.org"}


def warnings(env: dict[str, str], cmap: Path | None = None) -> list[tuple[str, str, tuple[str, ...]]]:
    raw = {**env, **({"CHANNEL_MAP_FILE": str(cmap)} if cmap else {})}
    return [(w.kind, w.channel, w.severities) for w in check_routing(load_notify_settings(raw))]


def test_everything_configured_and_routed_warns_nothing() -> None:
    assert warnings({**TELEGRAM, **SMTP, "SLACK_WEBHOOK_URL": SLACK}) == []


def test_a_severity_webhook_the_map_never_routes_there() -> None:
    found = check_routing(load_notify_settings({**TELEGRAM, **SMTP, "SLACK_WEBHOOK_URL_P0": SLACK,
                                                "SLACK_WEBHOOK_URL_P1": SLACK}))
    unused = [w for w in found if w.kind == "unused"]
    assert [(w.channel, w.severities, w.variables) for w in unused] == [("slack", ("P0",), ("SLACK_WEBHOOK_URL_P0",))]
    assert "SLACK_WEBHOOK_URL_P0 set, but the channel map does not route P0 to slack" in unused[0].message
    # and P2, routed to Slack by the map, has no webhook there
    assert [(w.kind, w.channel, w.severities) for w in found if w.kind == "unconfigured"] == [
        ("unconfigured", "slack", ("P2",))]
    assert all(SLACK not in w.message and "very-secret" not in str(w.fields()) for w in found)


def test_routes_to_channels_not_configured(tmp_path: Path) -> None:
    assert warnings({}) == [("unconfigured", "email", ("P3",)), ("unconfigured", "slack", ("P1", "P2")),
                            ("unconfigured", "telegram", ("P0", "P1", "P2"))]
    cmap = tmp_path / "map.yml"
    cmap.write_text("severities:\n  P0: {channels: [telegram]}\n  P1: {channels: [telegram, discord]}\n")
    assert warnings({**TELEGRAM}, cmap) == [("unconfigured", "discord", ("P1",))]


def test_a_configured_channel_the_map_routes_nothing_to(tmp_path: Path) -> None:
    cmap = tmp_path / "map.yml"
    # no severity goes to the pager, so Slack (not named) follows nothing
    cmap.write_text("severities:\n  P3: {channels: [email]}\n")
    found = check_routing(load_notify_settings({**SMTP, **TELEGRAM, "SLACK_WEBHOOK_URL": SLACK,
                                                "CHANNEL_MAP_FILE": str(cmap)}))
    assert {(w.kind, w.channel) for w in found} == {("unused", "slack"), ("unused", "telegram")}
    # a channel the map never names follows the pager's severities: used, no warning
    assert warnings({**SMTP, **TELEGRAM, "DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1/x",
                     "SLACK_WEBHOOK_URL": SLACK}) == []


def test_check_config_prints_warnings_and_exits_0() -> None:
    r = CliRunner().invoke(cli, ["receiver", "--check-config"],
                           env={**TELEGRAM, "SLACK_WEBHOOK_URL_P0": SLACK, "SMTP_HOST": "", "DATABASE_URL": "",
                                "RECEIVER_EXTERNAL_URL": "https://d76.example.org"})
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert any(ln.startswith("warning: SLACK_WEBHOOK_URL_P0 set, but the channel map does not route P0 to slack")
               for ln in lines)
    assert any(ln.startswith("warning: the channel map routes P3 to email") for ln in lines)
    assert lines[-1] == "configuration valid: 3 warning(s)" and "very-secret" not in r.output


def test_check_config_names_every_invalid_setting_and_exits_1(tmp_path: Path) -> None:
    bad_map = tmp_path / "map.yml"
    bad_map.write_text("severities:\n  P0: {channels: [pigeon]}\n")
    env = {**TELEGRAM, "CHANNEL_MAP_FILE": str(bad_map), "HISTORY_RECONCILE_INTERVAL_SECONDS": "x"}
    r = CliRunner().invoke(cli, ["receiver", "--check-config", "--listen", "nowhere"], env=env)
    assert r.exit_code == 1, r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("error: ")]
    assert errors[0].startswith("error: --listen:")
    assert any("HISTORY_RECONCILE_INTERVAL_SECONDS" in e for e in errors)
    assert any("CHANNEL_MAP_FILE" in e and "severities.P0.channels" in e and "pigeon" in e for e in errors)
    assert r.output.splitlines()[-1].startswith("configuration invalid: 3 error(s)")
    r = CliRunner().invoke(cli, ["receiver", "--check-config"], env={"NOTIFY_FULL_WITHIN_SECONDS": "soon"})
    assert r.exit_code == 1 and "error: NOTIFY_FULL_WITHIN_SECONDS: expected a number" in r.output
