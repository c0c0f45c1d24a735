"""Settings from environment and YAML config with ${VAR} substitution."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook_receiver.settings import SettingsError, load_settings, redact_url


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


def test_serving_and_pool_knobs() -> None:
    s = load_settings({})
    assert (s.threads, s.connection_limit, s.idle_timeout, s.request_timeout, s.backlog) == (8, 200, 30.0, 30.0, 1024)
    assert (s.db_pool_size, s.db_pool_timeout, s.db_connect_timeout) == (16, 1.0, 3)
    s = load_settings(
        {
            "RECEIVER_THREADS": "16",
            "RECEIVER_CONNECTION_LIMIT": "1000",
            "RECEIVER_IDLE_TIMEOUT_SECONDS": "5",
            "RECEIVER_REQUEST_TIMEOUT_SECONDS": "2.5",
            "RECEIVER_BACKLOG": "4096",
            "RECEIVER_DB_POOL_TIMEOUT": "0.5",
            "RECEIVER_DB_CONNECT_TIMEOUT": "5",
        }
    )
    assert (s.threads, s.connection_limit, s.idle_timeout, s.request_timeout, s.backlog) == (16, 1000, 5.0, 2.5, 4096)
    assert (s.db_pool_timeout, s.db_connect_timeout) == (0.5, 5)
    assert "connection_limit=1000" in repr(s)


@pytest.mark.parametrize("name, value", [
    ("RECEIVER_CONNECTION_LIMIT", "2"), ("RECEIVER_CONNECTION_LIMIT", "lots"), ("RECEIVER_IDLE_TIMEOUT_SECONDS", "0"),
    ("RECEIVER_REQUEST_TIMEOUT_SECONDS", "-1"), ("RECEIVER_BACKLOG", "0"), ("RECEIVER_DB_CONNECT_TIMEOUT", "1"),
])
def test_bad_serving_knobs_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


@pytest.mark.parametrize("url,shown", [
    ("postgresql://u:pw-secret@db/d76", "postgresql://u:***@db/d76"),
    ("postgresql://u:pw-secret@127.0.0.1:5432,127.0.0.1:5433/d76?target_session_attrs=read-write",
     "postgresql://u:***@127.0.0.1:5432,127.0.0.1:5433/d76?target_session_attrs=read-write"),
    ("postgresql://u@h1:1,h2:2/d76?password=pw-secret&target_session_attrs=read-write",
     "postgresql://u@h1:1,h2:2/d76?password=***&target_session_attrs=read-write"),
    ("postgresql://postgres@127.0.0.1:1,127.0.0.1:2/d76?target_session_attrs=read-write",
     "postgresql://postgres@127.0.0.1:1,127.0.0.1:2/d76?target_session_attrs=read-write"),
    ("sqlite:///tmp/h.db", "sqlite:///tmp/h.db"),
])
def test_redact_url_hides_the_password_of_single_and_multi_host_urls(url, shown):
    assert redact_url(url) == shown
    assert load_settings({"DATABASE_URL": url}).database_url == url  # accepted as given


@given(password=st.text(alphabet=st.characters(blacklist_characters="@/?#&%", blacklist_categories=("Cs",)),
                        min_size=3),
       hosts=st.lists(st.tuples(st.sampled_from(["db", "127.0.0.1", "pg-a.example"]), st.integers(1, 65535)),
                      min_size=1, max_size=3),
       in_query=st.booleans())
def test_redact_url_never_shows_a_password(password, hosts, in_query):
    netloc = ",".join(f"{h}:{p}" for h, p in hosts)
    url = (f"postgresql://u@{netloc}/d76?password={password}&target_session_attrs=read-write" if in_query
           else f"postgresql://u:{password}@{netloc}/d76?target_session_attrs=read-write")
    hidden = (url.replace(f"password={password}&", "password=***&") if in_query
              else url.replace(f":{password}@", ":***@"))
    assert redact_url(url) == hidden
