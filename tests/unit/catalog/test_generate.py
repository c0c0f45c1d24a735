"""The committed generated files are exactly what the catalog renders; stale copies are caught."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from click.testing import CliRunner

from catalog import check_generated, generated_files, load_catalog, write_generated
from d76_cli.generate import command as generate
from tests.support import paths

REPO = paths.REPO


def test_committed_files_are_current():
    assert check_generated(load_catalog(), REPO) == []


def test_every_generated_file_says_do_not_edit():
    for rel, text in generated_files(load_catalog()).items():
        if rel.endswith(".json"):  # JSON has no comments: the marker is the first key
            assert json.loads(text)["__generated"].endswith("do not edit"), rel
            continue
        first = text.splitlines()[0]
        assert "generated" in first and "do not edit" in first, rel


def _copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for d in ("prometheus", "alertmanager", "webhook_receiver/runbook_pages", "grafana", "webhook_receiver/notify"):
        if (REPO / d).exists():
            shutil.copytree(REPO / d, root / d)
    return root


def test_edited_missing_and_orphaned_files_are_reported(tmp_path):
    root = _copy_tree(tmp_path)
    cat = load_catalog()
    assert check_generated(cat, root) == []
    rules = root / "prometheus/rules/d75-exchange-health.yml"
    rules.write_text(rules.read_text().replace("> 0.5", "> 0.9"))
    (root / "alertmanager/alertmanager.yml").unlink()
    (root / "webhook_receiver/runbook_pages/old-alert.md").write_text("# OldAlert\n")
    assert check_generated(cat, root) == sorted(
        [
            "prometheus/rules/d75-exchange-health.yml",
            "alertmanager/alertmanager.yml",
            "webhook_receiver/runbook_pages/old-alert.md",
        ]
    )
    r = CliRunner().invoke(generate, ["--check", "--root", str(root)])
    assert r.exit_code == 1 and "d75-exchange-health.yml" in r.output
    changed = write_generated(cat, root)
    assert len(changed) == 3 and not (root / "webhook_receiver/runbook_pages/old-alert.md").exists()
    assert check_generated(cat, root) == []


def test_generate_with_override_rewrites_rules(tmp_path):
    root = _copy_tree(tmp_path)
    ov = tmp_path / "ov.yml"
    ov.write_text("alerts:\n  OrderbookLagging: {threshold: 3}\n")
    r = CliRunner().invoke(generate, ["--config", str(ov), "--root", str(root)])
    assert r.exit_code == 0, r.output
    doc = yaml.safe_load((root / "prometheus/rules/d75-exchange-health.yml").read_text())
    rule = next(x for x in doc["groups"][0]["rules"] if x["alert"] == "OrderbookLagging")
    assert rule["expr"].endswith("> 3") and "over 3s" in rule["annotations"]["description"]
    assert "overrides from" in (root / "prometheus/rules/d75-exchange-health.yml").read_text().splitlines()[0]
    # against the defaults the tree is now stale, against the same override it is current
    assert CliRunner().invoke(generate, ["--check", "--root", str(root)]).exit_code == 1
    assert CliRunner().invoke(generate, ["--check", "--config", str(ov), "--root", str(root)]).exit_code == 0


def test_prometheus_config_is_fast_enough_for_p0_and_scrapes_the_pipeline():
    doc = yaml.safe_load((REPO / "prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in doc["scrape_configs"]}
    assert set(jobs) == {"d75", "prometheus", "alertmanager", "receiver"}
    assert jobs["d75"]["scrape_interval"] in ("500ms", "1s")
    assert doc["global"]["evaluation_interval"] in ("500ms", "1s")
    assert doc["rule_files"] == ["rules/*.yml"]
    assert doc["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9093"]
    assert jobs["d75"]["static_configs"] == [{"targets": ["127.0.0.1:9876"]}]
    # compose: the bot's targets from D75_TARGETS, through a file (tests/unit/test_compose_file.py)
    compose = yaml.safe_load((REPO / "prometheus/prometheus.compose.yml").read_text())
    d75 = next(j for j in compose["scrape_configs"] if j["job_name"] == "d75")
    assert d75["file_sd_configs"] == [{"files": ["/etc/prometheus/targets/d75.yml"]}]


def test_alertmanager_config_follows_contract_section_4():
    doc = yaml.safe_load((REPO / "alertmanager/alertmanager.yml").read_text())
    routes = {r["receiver"]: r for r in doc["route"]["routes"]}
    assert routes["d76-p0"]["group_wait"] == "0s" and routes["d76-p0"]["repeat_interval"] == "5m"
    assert routes["d76-p1"]["repeat_interval"] == "30m" and routes["d76-p2"]["repeat_interval"] == "1h"
    assert routes["d76-p3"]["repeat_interval"] == "24h"
    assert routes["d76-watchdog"]["matchers"] == ['alertname="Watchdog"']
    assert "category" not in doc["route"]["group_by"]  # one exchange's 429s on all categories: one message
    for rcv in doc["receivers"]:
        hook = rcv["webhook_configs"][0]
        assert hook["url"] == "http://127.0.0.1:9099/webhook/alertmanager" and hook["send_resolved"] is True
        assert hook["http_config"]["authorization"]["credentials_file"] == "receiver_token"
    for rule in doc["inhibit_rules"]:
        assert rule["equal"], "inhibitions must be scoped with equal"
        if "exchange" in rule["equal"]:
            # a label missing on both sides counts as equal: the source must carry it
            assert 'exchange=~".+"' in rule["source_matchers"]
