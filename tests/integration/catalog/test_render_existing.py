"""`d76 generate --for-existing`: the output loads in an operator's own Prometheus and Alertmanager.

The fragment is merged into a sample foreign alertmanager.yml (its own routes, receivers and
inhibition); amtool checks the result and routes our alerts to our receivers while the foreign
alerts still reach theirs. promtool checks the rule files, and a foreign prometheus.yml with our
scrape job and rule files added.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from catalog import SEVERITIES, SOURCES, inhibit_rules, load_catalog
from d76_cli.generate import command as generate
from local_stack.processes import require_binary
from tests.support import paths

REPO = paths.REPO
AMTOOL = require_binary("amtool", "alertmanager")
PROMTOOL = require_binary("promtool", "prometheus")
FOREIGN = REPO / "tests/fixtures/foreign/alertmanager.yml"


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("existing") / "d76"
    r = CliRunner().invoke(generate, ["--for-existing", str(d), "--merge-with", str(FOREIGN),
                                      "--receiver-url", "http://10.0.0.7:9099",
                                      "--token-file", "/etc/alertmanager/d76_token"])
    assert r.exit_code == 0, r.output
    return d


def _route(config: Path, *labels: str) -> str:
    r = subprocess.run([AMTOOL, "config", "routes", "test", f"--config.file={config}", *labels],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_merged_config_passes_amtool_check_config(out):
    r = subprocess.run([AMTOOL, "check-config", str(out / "alertmanager.merged.yml")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
    ours = len(inhibit_rules(load_catalog()))
    assert ours == 5  # exchange P0, FROZEN, global BLOCK, a scope's BLOCK over its DEGRADE/COOLDOWN, ExporterDown
    assert "9 receivers" in r.stdout and f"{ours + 1} inhibit rules" in r.stdout  # + the foreign one


def test_our_alerts_reach_our_receivers_and_theirs_still_reach_theirs(out):
    merged = out / "alertmanager.merged.yml"
    for a in load_catalog().alerts:
        expected = "d76-watchdog" if a.name == "Watchdog" else f"d76-{a.severity.lower()}"
        assert _route(merged, f"alertname={a.name}", f"severity={a.severity or 'none'}", f"source={a.source}",
                      "job=d75", "instance=bot:9876") == expected, a.name
    for sev in SEVERITIES:  # one-off events from send_alert too
        for src in SOURCES:
            assert _route(merged, "alertname=Manual", f"severity={sev}", f"source={src}") == f"d76-{sev.lower()}"
    # the operator's own alerts, including ones that share one of our label values
    assert _route(merged, "alertname=NodeDown", "severity=critical") == "ops-pager"
    assert _route(merged, "alertname=DiskFull", "severity=warning", "source=system") == "ops-email"
    assert _route(merged, "alertname=Slow", "severity=P1") == "ops-default"
    assert _route(merged, "alertname=Replica", "team=db", "severity=info") == "db-team,ops-email"
    assert _route(merged, "alertname=Anything") == "ops-default"


def test_rule_files_and_a_foreign_prometheus_config_pass_promtool(out, tmp_path):
    rules = sorted(str(p) for p in (out / "rules").glob("*.yml"))
    assert len(rules) == 7
    r = subprocess.run([PROMTOOL, "check", "rules", *rules], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    # the operator's prometheus.yml (slow global evaluation) with our job and rules added
    job = yaml.safe_load((out / "prometheus-scrape.yml").read_text())
    cfg = {"global": {"scrape_interval": "1m", "evaluation_interval": "1m"},
           "rule_files": [str(out / "rules" / "*.yml")],
           "scrape_configs": [{"job_name": "node", "static_configs": [{"targets": ["127.0.0.1:9100"]}]}] + job}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(cfg))
    r = subprocess.run([PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 7 rule files found" in r.stdout
