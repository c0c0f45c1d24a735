"""`d76 stack up --target`: what the runner renders for the real bot, and where links point.

No server here: the runner's rendering and its receiver environment, the target parser, and the
scrape-health wording (the integration test
`tests/integration/local_stack/test_adoption.py` runs the whole thing)."""
from __future__ import annotations

import json
import stat

import pytest
import yaml
from click.testing import CliRunner

from catalog.deploy_configs import parse_target
from d76_cli.main import cli
from local_stack.preflight import check_config
from local_stack.probes import describe_scrape
from local_stack.render import receiver_env
from local_stack.runner import Stack, StackConfig, StartupError
from local_stack.state import write_secret


def _rendered(tmp_path, **kw) -> Stack:
    stack = Stack(StackConfig(state_dir=tmp_path / "s", exporter_port=1111, prometheus_port=2222,
                              alertmanager_port=3333, receiver_port=4444, **kw))
    stack.state.mkdir(parents=True)
    check_config(stack.config)
    stack._render()
    stack._write_manifest()
    return stack


def _d75_targets(stack: Stack) -> list[str]:
    prom = yaml.safe_load((stack.state / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "d75")
    return job["static_configs"][0]["targets"]


def _runbook_urls(stack: Stack) -> set[str]:
    urls = set()
    for f in (stack.state / "prometheus" / "rules").glob("*.yml"):
        for group in yaml.safe_load(f.read_text())["groups"]:
            urls |= {r["annotations"]["runbook_url"] for r in group["rules"]}
    return urls


def test_targets_replace_the_simulator_and_are_all_scraped(tmp_path):
    stack = _rendered(tmp_path, targets=("bot.lan:9876", " 10.0.0.5:9100 ", "[::1]:9200"))
    assert _d75_targets(stack) == ["bot.lan:9876", "10.0.0.5:9100", "[::1]:9200"]
    assert not stack.config.runs_simulator()
    manifest = json.loads(stack.manifest_path.read_text())
    assert manifest["targets"] == ["bot.lan:9876", "10.0.0.5:9100", "[::1]:9200"] and manifest["simulator"] is False
    # --no-simulator: the bot's exporter on --exporter-port
    assert _d75_targets(_rendered(tmp_path / "b", simulator=False)) == ["127.0.0.1:1111"]
    assert _d75_targets(_rendered(tmp_path / "c")) == ["127.0.0.1:1111"]  # the simulator


@pytest.mark.parametrize("bad", ["bot.lan", "http://bot:9876", "bot:0", "bot:99999", "::1:9876", "bo t:1", ":9"])
def test_a_bad_target_is_refused_before_anything_starts(tmp_path, bad):
    with pytest.raises(ValueError):
        parse_target(bad)
    with pytest.raises(StartupError, match="^target: "):
        Stack(StackConfig(state_dir=tmp_path / "s", targets=(bad,))).up()
    assert not (tmp_path / "s" / "stack.json").exists()
    r = CliRunner().invoke(cli, ["stack", "up", "--state-dir", str(tmp_path / "t"), "--target", bad])
    assert r.exit_code == 2 and "Invalid value for '--target'" in r.output


@pytest.fixture
def no_bot(monkeypatch):
    """No Telegram bot in this process' environment (the stack would render the direct road)."""
    for key in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "SMTP_HOST", "ALERT_EMAIL_TO"):
        monkeypatch.delenv(key, raising=False)


def test_runbook_links_follow_the_stacks_receiver_port_and_say_so(tmp_path, monkeypatch, no_bot):
    monkeypatch.delenv("RECEIVER_EXTERNAL_URL", raising=False)
    stack = _rendered(tmp_path)
    assert {u.rsplit("/", 1)[0] for u in _runbook_urls(stack)} == {"http://127.0.0.1:4444/runbooks"}
    assert "RECEIVER_EXTERNAL_URL" not in receiver_env(stack.config, stack.rendered, 0, "")
    [note, road] = stack.notes()
    assert note.startswith("links are local-only: runbook links in messages point at http://127.0.0.1:4444/runbooks/")
    assert "policy: {external_url:" in note
    assert road.startswith("no direct road: ") and "TELEGRAM_BOT_TOKEN" in road


def test_external_url_goes_to_the_links_and_the_receiver(tmp_path, no_bot):
    ov = tmp_path / "ov.yml"
    ov.write_text("policy: {external_url: 'https://alerts.example.com/d76/'}\n")
    stack = _rendered(tmp_path, catalog_override=ov, receiver_env={"X": "1"})
    assert {u.rsplit("/", 1)[0] for u in _runbook_urls(stack)} == {"https://alerts.example.com/d76/runbooks"}
    env = receiver_env(stack.config, stack.rendered, 0, "")
    assert env["RECEIVER_EXTERNAL_URL"] == "https://alerts.example.com/d76" and env["X"] == "1"
    assert stack.notes()[:1] == ["links: messages link to https://alerts.example.com/d76 (policy.external_url; "
                                 "runbooks at https://alerts.example.com/d76/runbooks/)"]
    assert len(stack.notes()) == 2 and stack.notes()[1].startswith("no direct road: ")
    # an explicit runbook base (a wiki) still wins over the stack's receiver
    ov.write_text("policy: {runbook_base_url: 'https://wiki.example.com/rb/'}\n")
    stack = _rendered(tmp_path / "w", catalog_override=ov)
    assert {u.rsplit("/", 1)[0] for u in _runbook_urls(stack)} == {"https://wiki.example.com/rb"}


def test_secrets_in_the_state_folder_are_private(tmp_path):
    stack = _rendered(tmp_path)
    write_secret(stack.state, "database_url", "postgresql://u:pw@db/x")
    for rel in ("alertmanager/receiver_token", "database_url"):
        assert stat.S_IMODE((stack.state / rel).stat().st_mode) == 0o600, rel
    assert stack.database_url() == "postgresql://u:pw@db/x"


def test_scrape_health_wording():
    assert describe_scrape(None).healthy is False
    assert describe_scrape({"health": "unknown", "lastScrape": "0001-01-01T00:00:00Z"}).detail == \
        "prometheus: not scraped yet"
    up = describe_scrape({"health": "up", "lastScrape": "2020-01-01T00:00:00.123456789Z", "lastError": ""})
    assert up.healthy and up.detail.startswith("prometheus: up, last scrape ") and up.detail.endswith("s ago")
    down = describe_scrape({"health": "down", "lastScrape": "2020-01-01T00:00:00Z",
                            "lastError": "connection refused"})
    assert not down.healthy and down.detail.endswith(": connection refused")


def test_the_database_is_shown_without_its_password(tmp_path):
    stack = _rendered(tmp_path)
    stack.started.database_url = "postgresql://d76:hunter2@db.internal:5432/d76"
    stack._write_manifest()
    lines = list(stack.iter_status_lines())
    assert lines == ["database      " + " " * 9 + "postgresql://d76:***@db.internal:5432/d76"]
    assert "hunter2" not in stack.manifest_path.read_text()


def test_the_console_dry_run_saves_graphs_in_the_stacks_state_folder(tmp_path, monkeypatch, no_bot):
    monkeypatch.delenv("TELEGRAM_DRY_RUN_DIR", raising=False)
    stack = _rendered(tmp_path)
    env = receiver_env(stack.config, stack.rendered, 0, "")
    assert env["TELEGRAM_DRY_RUN_DIR"] == str((stack.rendered.state / "graphs").resolve())
    monkeypatch.setenv("TELEGRAM_DRY_RUN_DIR", str(tmp_path / "mine"))  # the operator's own folder wins
    assert receiver_env(stack.config, stack.rendered, 0, "")["TELEGRAM_DRY_RUN_DIR"] == str(tmp_path / "mine")
