"""Settings from environment and YAML config with ${VAR} substitution."""
from __future__ import annotations

from pathlib import Path

import pytest

from webhook_receiver.settings import SettingsError, load_settings


def test_defaults_are_sqlite_and_no_auth() -> None:
    s = load_settings({})
    assert s.database_url.startswith("sqlite:///")
    assert s.receiver_token is None and not s.auth_enabled
    assert s.max_body_bytes == 1024 * 1024


def test_config_file_substitution_and_env_wins(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yml"
    cfg.write_text(
        "DATABASE_URL: postgresql://u:${PGPASS}@127.0.0.1:5432/d76\n"
        "RECEIVER_TOKEN: ${TOK}\n"
        "TELEGRAM_CHAT_ID: -100123\n"
        "receiver_threads: 4\n"
        "SLACK_WEBHOOK_URL: https://hooks.example.invalid/${SLACK_PATH}\n"
    )
    env = {"PGPASS": "pw-secret", "TOK": "tok-secret", "SLACK_PATH": "T/B/xyz", "TELEGRAM_CHAT_ID": "-100999"}
    s = load_settings(env, cfg)
    assert s.database_url == "postgresql://u:pw-secret@127.0.0.1:5432/d76"
    assert s.receiver_token == "tok-secret" and s.threads == 4
    assert s.raw["TELEGRAM_CHAT_ID"] == "-100999"  # environment wins
    assert s.raw["SLACK_WEBHOOK_URL"] == "https://hooks.example.invalid/T/B/xyz"
    shown = repr(s) + str(s)
    for secret in ("pw-secret", "tok-secret", "T/B/xyz"):
        assert secret not in shown
    assert "u:***@" in shown


def test_missing_variable_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yml"
    cfg.write_text("RECEIVER_TOKEN: ${NOT_SET_ANYWHERE}\n")
    with pytest.raises(SettingsError, match="NOT_SET_ANYWHERE"):
        load_settings({}, cfg)


@pytest.mark.parametrize(
    "env, name",
    [
        ({"RECEIVER_THREADS": "many"}, "RECEIVER_THREADS"),
        ({"RECEIVER_MAX_BODY_BYTES": "1"}, "RECEIVER_MAX_BODY_BYTES"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"RECEIVER_APPLY_MIGRATIONS": "maybe"}, "RECEIVER_APPLY_MIGRATIONS"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings(env)


def test_bad_yaml_is_a_settings_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yml"
    cfg.write_text("- just\n- a list\n")
    with pytest.raises(SettingsError, match="mapping"):
        load_settings({}, cfg)
