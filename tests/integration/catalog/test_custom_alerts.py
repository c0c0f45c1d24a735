"""An alert of the operator's own, on a metric of a stand-in bot: generated, checked by promtool, fired by a
real Prometheus with its action; a misspelt metric or template is caught by `d76 generate --check`."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, Gauge

from catalog import load_catalog, render_prometheus_config
from d76_cli.generate import command as generate
from exporter import make_metrics_app, serve_in_thread
from local_stack.processes import free_port, require_binary

require_binary("promtool", "prometheus")
ACTION = "The bot halves position sizes on {label:desk}; check the VaR model inputs."
OVERRIDES = {
    "sources": ["my_bot"],
    "alerts": [{
        "name": "VarLimitBreached", "expr": "my_bot_var_usd > {threshold}", "threshold": 50_000, "for": "1s",
        "severity": "P1", "source": "my_bot", "summary": "VaR of {label:desk} over {threshold_text}",
        "description": "Value at risk of desk {label:desk} is {value}.", "action": ACTION, "unit": "usd",
        "labels": {"team": "risk"}, "runbook": "The VaR model says the book can lose more than the limit today.",
        "test": {"series": 'my_bot_var_usd{desk="main"}', "silent_at": 50_000, "fires_at": 60_000},
    }],
}


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _generate(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(generate, list(args))
    return r.exit_code, r.output


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("own-alert")
    ov = _write(tmp / "overrides.yml", OVERRIDES)
    code, out = _generate("--config", str(ov), "--root", str(tmp / "repo"))
    assert code == 0, out
    return ov, tmp / "repo"


def test_generate_check_passes_with_promtool(generated: tuple[Path, Path]) -> None:
    ov, root = generated
    code, out = _generate("--config", str(ov), "--root", str(root), "--check")
    assert code == 0, out
    count = len(load_catalog(ov).alerts)
    assert f"generated files are up to date ({count} alerts)" in out and "warning: promtool not found" not in out
    assert (root / "prometheus/rules/d75-my-bot.yml").is_file()
    assert (root / "prometheus/tests/d75-my-bot_test.yml").is_file()
    assert (root / "webhook_receiver/runbook_pages/var-limit-breached.md").is_file()


@pytest.mark.parametrize("change, key, words", [
    ({"expr": "my_bot_var_usdd > {threshold}"}, "alerts.VarLimitBreached", "did not see it fire"),
    ({"expr": "my_bot_var_usd >> {threshold}"}, "alerts.VarLimitBreached.expr", "could not parse expression"),
    ({"summary": "{{ $labels.desk | nosuchfunction }}"}, "alerts.VarLimitBreached.summary",
     'function "nosuchfunction" not defined'),
])
def test_generate_check_names_the_key_promtool_complains_about(tmp_path: Path, change: dict, key: str,
                                                               words: str) -> None:
    bad = {**OVERRIDES, "alerts": [{**OVERRIDES["alerts"][0], **change}]}
    ov = _write(tmp_path / "overrides.yml", bad)
    code, out = _generate("--config", str(ov), "--root", str(tmp_path / "repo"))
    assert code == 0, out
    code, out = _generate("--config", str(ov), "--root", str(tmp_path / "repo"), "--check")
    assert code == 1
    assert any(line.startswith(f"error: {ov}: {key}") and words in line for line in out.splitlines()), out


@pytest.fixture(scope="module")
def prometheus(generated: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gauge, str]]:
    from local_stack.processes import start_prometheus

    ov, root = generated
    tmp = tmp_path_factory.mktemp("own-alert-prom")
    registry = CollectorRegistry()
    var = Gauge("my_bot_var_usd", "value at risk", ["desk"], registry=registry)   # the stand-in bot's own metric
    var.labels("main").set(10_000)
    server = serve_in_thread(make_metrics_app(registry), "127.0.0.1", 0)
    cfg = tmp / "prometheus.yml"
    cfg.write_text(render_prometheus_config(load_catalog(ov), exporter_target=f"127.0.0.1:{server.port}",
                                            alertmanager_target=f"127.0.0.1:{free_port()}",
                                            rule_files=[str(root / "prometheus/rules/*.yml")]))
    port = free_port()
    proc = start_prometheus(cfg, port, tmp / "data", tmp / "prom.log")
    try:
        yield var, f"http://127.0.0.1:{port}"
    finally:
        proc.stop()
        server.stop()


def _alerts(url: str, name: str) -> list[dict]:
    r = requests.get(f"{url}/api/v1/alerts", timeout=10)
    r.raise_for_status()
    return [a for a in r.json()["data"]["alerts"] if a["labels"]["alertname"] == name]


def test_the_own_alert_fires_in_prometheus_with_its_action(prometheus: tuple[Gauge, str]) -> None:
    var, url = prometheus
    time.sleep(2)
    assert _alerts(url, "VarLimitBreached") == []          # 10,000 USD: quiet
    var.labels("main").set(62_500)
    deadline = time.monotonic() + 30
    firing: list[dict] = []
    while time.monotonic() < deadline:
        firing = [a for a in _alerts(url, "VarLimitBreached") if a["state"] == "firing"]
        if firing:
            break
        time.sleep(0.25)
    assert len(firing) == 1, "VarLimitBreached did not fire within 30 s"
    alert = firing[0]
    assert {k: alert["labels"][k] for k in ("severity", "source", "team", "desk")} == \
        {"severity": "P1", "source": "my_bot", "team": "risk", "desk": "main"}
    ann = alert["annotations"]
    assert ann["action"] == "The bot halves position sizes on main; check the VaR model inputs."
    assert ann["summary"] == "VaR of main over 50,000 USD"
    assert ann["description"] == "Value at risk of desk main is 62,500 USD."
    assert ann["value"] == "62,500 USD" and ann["threshold"] == "50000"
    assert ann["runbook_url"].endswith("/runbooks/var-limit-breached")
    var.labels("main").set(1_000)
