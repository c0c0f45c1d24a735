"""promtool against the generated files: syntax, config, and the generated unit tests of every alert."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from catalog import load_catalog, write_generated
from local_stack.processes import require_binary
from tests.support import paths

REPO = paths.REPO
PROMTOOL = require_binary("promtool", "prometheus")


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, cwd=cwd, timeout=240)


def test_promtool_check_rules_and_config():
    rules = sorted(str(p) for p in (REPO / "prometheus/rules").glob("*.yml"))
    assert len(rules) == 8  # one per source, the pipeline's own included
    r = _run("check", "rules", *rules)
    assert r.returncode == 0, r.stdout + r.stderr
    n = sum(int(line.split()[1]) for line in r.stdout.splitlines() if "rules found" in line)
    assert n == len(load_catalog().enabled_alerts)
    for cfg in ("prometheus.yml", "prometheus.compose.yml"):
        r = _run("check", "config", str(REPO / "prometheus" / cfg))  # also loads the rule files
        assert r.returncode == 0, r.stdout + r.stderr


def test_generated_unit_tests_cover_every_alert_and_pass():
    tests = sorted((REPO / "prometheus/tests").glob("*_test.yml"))
    covered = set()
    for t in tests:
        for case in yaml.safe_load(t.read_text())["tests"]:
            covered |= {c["alertname"] for c in case["alert_rule_test"]}
    assert covered == {a.name for a in load_catalog().enabled_alerts}
    r = _run("test", "rules", *[t.name for t in tests], cwd=REPO / "prometheus/tests")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("SUCCESS") == len(tests)


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "prometheus", root / "prometheus")
    return root


def test_the_generated_tests_catch_a_wrong_rule(tmp_path):
    """A rule edited by hand (>= instead of >, a lost `for`) fails its generated tests."""
    root = _copy(tmp_path)
    rules = root / "prometheus/rules/d75-exchange-health.yml"
    text = rules.read_text()
    assert "d75_exchange_rest_latency_seconds > 2\n" in text and "for: 5m" in text
    rules.write_text(text.replace("d75_exchange_rest_latency_seconds > 2\n", "d75_exchange_rest_latency_seconds >= 2\n")
                     .replace("    for: 5m\n", "", 1))
    r = _run("test", "rules", "d75-exchange-health_test.yml", cwd=root / "prometheus/tests")
    assert r.returncode != 0
    assert "ExchangeLatencyCritical" in r.stdout + r.stderr
    assert "ExchangeLatencyHigh" in r.stdout + r.stderr or "ExchangeDownSustained" in r.stdout + r.stderr


def test_overridden_catalog_generates_passing_tests(tmp_path):
    """Shortened `for`s and moved thresholds (what the e2e tests and the demo use) stay correct."""
    ov = tmp_path / "ov.yml"
    ov.write_text(yaml.safe_dump({"alerts": {
        "ExchangeDownSustained": {"for": "30s"}, "ExchangeLatencyHigh": {"for": "15s", "threshold": 0.7},
        "NoActiveRoutes": {"for": "45s", "threshold": 3}, "ExchangeErrorRatioHigh": {"threshold": 0.2},
        "GlobalDailyLoss": {"threshold": 20000}, "RouteScoreDrop": {"threshold": 0.5},
        "InventorySyncFailing": {"severity": "P1"}}}))
    root = tmp_path / "out"
    write_generated(load_catalog(ov), root)
    tests = sorted(p.name for p in (root / "prometheus/tests").glob("*_test.yml"))
    r = _run("test", "rules", *tests, cwd=root / "prometheus/tests")
    assert r.returncode == 0, r.stdout + r.stderr


PER_LABEL = {"alerts": {
    "ExchangeLatencyHigh": {"threshold": 0.5, "by": {"exchange": {"upbit": 1.5, "bithumb": 1.0}}},
    "ExchangeLatencyCritical": {"by": {"exchange": {"upbit": 1.0}}},
    "OrderbookStale": {"by": {"exchange": {"upbit": 30}}},
    "ExchangeErrorRatioHigh": {"by": {"exchange": {"upbit": 0.2}}},
    "RateLimitLow": {"by": {"category": {"order": 0.3}}},
    "RateLimitHttp429": {"threshold": 2, "by": {"exchange": {"binance": 5}}},
    "InventorySyncFailing": {"by": {"exchange": {"upbit": 3}}},
    "RouteScoreDrop": {"by": {"route": {"upbit-binance-BTC": 0.5}}},
    "RouteSpreadWide": {"by": {"route": {"a.b-c": 900}}},
    "SymbolExposureHigh": {"by": {"symbol": {"BTC": 0.7, "ETH": 0.2}}},
    "RebalanceFailing": {"by": {"symbol": {"BTC": 5}}},
    "ExchangeDailyLoss": {"by": {"exchange": {"binance": 20000}}},
}}


def test_per_label_thresholds_generate_passing_tests_that_catch_a_wrong_rule(tmp_path):
    """Each special value fires past its own threshold and is silent at it, the default still
    applies to the others; a default rule that forgets to exclude a special value fails them."""
    ov = tmp_path / "ov.yml"
    ov.write_text(yaml.safe_dump(PER_LABEL, sort_keys=False))
    root = tmp_path / "out"
    write_generated(load_catalog(ov), root)
    tests = sorted(p.name for p in (root / "prometheus/tests").glob("*_test.yml"))
    r = _run("test", "rules", *tests, cwd=root / "prometheus/tests")
    assert r.returncode == 0, r.stdout + r.stderr
    rules = root / "prometheus/rules/d75-exchange-health.yml"
    text = rules.read_text()
    wrong = text.replace('d75_exchange_rest_latency_seconds{exchange!~"upbit|bithumb"} > 0.5',
                         "d75_exchange_rest_latency_seconds > 0.5")
    assert wrong != text
    rules.write_text(wrong)
    r = _run("test", "rules", "d75-exchange-health_test.yml", cwd=root / "prometheus/tests")
    assert r.returncode != 0 and "upbit silent at its own threshold" in r.stdout + r.stderr
