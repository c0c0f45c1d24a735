"""Where the `d76` commands go (`d76_cli.stack_client`): an explicit URL, then the stack in the state
folder, then the defaults; and `d76 silence` matchers. No server here (test_stack_adoption.py runs
the commands against a real stack)."""
from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from d76_cli import stack_client
from d76_cli.main import cli
from d76_cli.silence import parse_matcher
from webhook_receiver.settings import load_settings


def _stack(state: Path, *, running: bool = True, ha: bool = False) -> Path:
    (state / "alertmanager").mkdir(parents=True)
    (state / "alertmanager" / "receiver_token").write_text("stack-token\n")
    (state / "database_url").write_text("postgresql://postgres:pw@127.0.0.1:5555/d76\n")
    if running:
        names = ["a", "b"] if ha else [""]
        pieces = []
        for i, n in enumerate(names):
            suffix = f"-{n}" if n else ""
            pieces += [{"name": f"receiver{suffix}", "url": f"http://127.0.0.1:{7000 + i}", "kind": "receiver"},
                       {"name": f"alertmanager{suffix}", "url": f"http://127.0.0.1:{8000 + i}"}]
        (state / "stack.json").write_text(json.dumps({"pieces": pieces, "database": "postgresql://postgres:***@x"}))
    return state


def test_the_stack_is_used_unless_a_url_is_given(tmp_path):
    state = _stack(tmp_path / "s", ha=True)
    rcv = stack_client.receiver(None, None, state, env={"RECEIVER_TOKEN": "env-token"})
    # the stack's receivers come with the stack's token, not one from the environment
    assert rcv.urls == ("http://127.0.0.1:7000", "http://127.0.0.1:7001") and rcv.token == "stack-token"
    assert rcv.origin == f"the stack in {state}"
    rcv = stack_client.receiver("http://elsewhere:9099/", None, state, env={"RECEIVER_TOKEN": "env-token"})
    assert rcv.urls == ("http://elsewhere:9099",) and rcv.token == "env-token" and rcv.origin == "--receiver-url"
    assert stack_client.receiver(None, "given", state, env={}).token == "given"
    am = stack_client.alertmanager(None, state)
    assert am.urls == ("http://127.0.0.1:8000", "http://127.0.0.1:8001")
    assert stack_client.alertmanager("http://x:1, http://y:2", state).urls == ("http://x:1", "http://y:2")


def test_without_a_running_stack_the_defaults(tmp_path):
    state = _stack(tmp_path / "s", running=False)  # `stack down` removed the manifest
    rcv = stack_client.receiver(None, None, state, env={"RECEIVER_TOKEN": "env-token"})
    assert rcv.url == "http://127.0.0.1:9099" and rcv.token == "env-token" and "no stack running" in rcv.origin
    assert stack_client.alertmanager(None, tmp_path / "nothing").url == "http://127.0.0.1:9093"


def test_database_precedence(tmp_path):
    state = _stack(tmp_path / "s", running=False)
    bare = load_settings(env={})
    # the stack's database (kept after `stack down`: its history stays readable)
    db = stack_client.database_url(None, bare, state)
    assert db.url == "postgresql://postgres:pw@127.0.0.1:5555/d76" and db.origin == f"the stack in {state}"
    assert stack_client.database_url("sqlite:///x.db", bare, state).url == "sqlite:///x.db"
    env = load_settings(env={"DATABASE_URL": "sqlite:///env.db"})
    assert stack_client.database_url(None, env, state).url == "sqlite:///env.db"
    default = stack_client.database_url(None, bare, tmp_path / "none")
    assert default.url == bare.database_url and default.origin == "the receiver's default"


def test_a_broken_manifest_is_no_stack(tmp_path):
    state = tmp_path / "s"
    state.mkdir()
    (state / "stack.json").write_text("{not json")
    info = stack_client.load_stack(state)
    assert not info.running and info.receiver_urls == () and info.token is None


@pytest.mark.parametrize("text,expected", [
    ("exchange=upbit", {"name": "exchange", "value": "upbit", "isRegex": False, "isEqual": True}),
    ('alertname=~"Exchange.*"', {"name": "alertname", "value": "Exchange.*", "isRegex": True, "isEqual": True}),
    ("route!=a-b-BTC", {"name": "route", "value": "a-b-BTC", "isRegex": False, "isEqual": False}),
    ("symbol!~'BTC|ETH'", {"name": "symbol", "value": "BTC|ETH", "isRegex": True, "isEqual": False}),
])
def test_silence_matchers(text, expected):
    assert parse_matcher(text) == expected


@pytest.mark.parametrize("bad", ["upbit", "=upbit", "1abc=x", "x=~(unclosed"])
def test_bad_silence_matchers_are_refused(bad):
    with pytest.raises(click.BadParameter):
        parse_matcher(bad)


def test_silence_needs_a_scope_and_a_sane_duration(tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["silence", "create", "--state-dir", str(tmp_path)])
    assert r.exit_code == 2 and "at least one matcher" in r.output
    r = runner.invoke(cli, ["silence", "create", "alertname=~.*", "--state-dir", str(tmp_path)])
    assert r.exit_code == 2 and "would silence everything" in r.output
    r = runner.invoke(cli, ["silence", "create", "exchange=upbit", "--duration", "90d", "--state-dir", str(tmp_path)])
    assert r.exit_code == 2 and "between 1m and 30d" in r.output
