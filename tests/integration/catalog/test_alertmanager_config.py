"""The generated alertmanager.yml: amtool checks, routing of every severity and source, and the
inhibitions of CONTRACT section 4 evaluated by a real Alertmanager."""
from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime

import pytest
import requests

from catalog import SEVERITIES, SOURCES, load_catalog
from local_stack.processes import require_binary
from tests.support import paths

REPO = paths.REPO
AMTOOL = require_binary("amtool", "alertmanager")
LOCAL = REPO / "alertmanager/alertmanager.yml"


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", ["alertmanager.yml", "alertmanager.compose.yml"])
def test_amtool_check_config(name):
    r = _amtool("check-config", str(REPO / "alertmanager" / name))
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr


def _route(*labels: str) -> str:
    r = _amtool("config", "routes", "test", f"--config.file={LOCAL}", *labels)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_every_severity_and_source_routes_to_its_receiver():
    for sev in SEVERITIES:
        for src in SOURCES:
            assert _route(f"severity={sev}", f"source={src}", "alertname=Anything") == f"d76-{sev.lower()}"
    assert _route("alertname=Watchdog", "severity=none", "source=system") == "d76-watchdog"
    assert _route("alertname=Unclassified") == "d76-p2"  # no severity: treated as P2, never dropped


def test_every_catalog_alert_routes_by_its_severity():
    for a in load_catalog().alerts:
        expected = "d76-watchdog" if a.name == "Watchdog" else f"d76-{a.severity.lower()}"
        assert _route(f"alertname={a.name}", f"severity={a.severity or 'none'}", f"source={a.source}") == expected


# -- inhibitions against a real Alertmanager ------------------------------------------------------
@pytest.fixture
def am(alertmanager_factory, tmp_path) -> str:
    cfg = tmp_path / "alertmanager.yml"
    cfg.write_text(LOCAL.read_text())
    (tmp_path / "receiver_token").write_text("t")  # credentials_file is relative to the config
    _, url = alertmanager_factory(cfg)
    return url


def _post(am: str, *label_sets: dict[str, str]) -> None:
    now = datetime.now(UTC).isoformat()
    r = requests.post(f"{am}/api/v2/alerts", json=[{"labels": ls, "startsAt": now} for ls in label_sets], timeout=5)
    assert r.status_code == 200, r.text


def _states(am: str, expected: int) -> dict[tuple, str]:
    deadline = time.monotonic() + 15
    while True:
        alerts = requests.get(f"{am}/api/v2/alerts", timeout=5).json()
        if len(alerts) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    # inhibition is computed when Alertmanager answers; give the inhibitor a moment to index sources
    time.sleep(0.5)
    alerts = requests.get(f"{am}/api/v2/alerts", timeout=5).json()
    return {tuple(sorted((k, v) for k, v in a["labels"].items() if k not in ("job", "instance"))): a["status"]["state"]
            for a in alerts}


def _state(states: dict, **labels: str) -> str:
    key = tuple(sorted(labels.items()))
    return states[key]


def test_p0_on_an_exchange_inhibits_that_exchanges_lower_alerts(am):
    _post(am,
          {"alertname": "OrderbookStale", "severity": "P0", "exchange": "upbit"},
          {"alertname": "RateLimitHttp429", "severity": "P1", "exchange": "upbit", "category": "order"},
          {"alertname": "ExchangeLatencyHigh", "severity": "P2", "exchange": "upbit"},
          {"alertname": "DailyLossWarning", "severity": "P3", "exchange": "upbit"},
          {"alertname": "ExchangeLatencyHigh", "severity": "P2", "exchange": "binance"},
          {"alertname": "TotalExposureHigh", "severity": "P1"})  # no exchange label: not "equal"
    s = _states(am, 6)
    assert _state(s, alertname="OrderbookStale", severity="P0", exchange="upbit") == "active"
    assert _state(s, alertname="RateLimitHttp429", severity="P1", exchange="upbit", category="order") == "suppressed"
    assert _state(s, alertname="ExchangeLatencyHigh", severity="P2", exchange="upbit") == "suppressed"
    assert _state(s, alertname="DailyLossWarning", severity="P3", exchange="upbit") == "suppressed"
    assert _state(s, alertname="ExchangeLatencyHigh", severity="P2", exchange="binance") == "active"
    assert _state(s, alertname="TotalExposureHigh", severity="P1") == "active"


def test_frozen_inhibits_down_and_degraded_of_the_same_exchange(am):
    _post(am,
          {"alertname": "ExchangeFrozen", "severity": "P0", "exchange": "okx"},
          {"alertname": "ExchangeDownSustained", "severity": "P0", "exchange": "okx"},
          {"alertname": "ExchangeDegraded", "severity": "P2", "exchange": "okx"},
          {"alertname": "ExchangeDownSustained", "severity": "P0", "exchange": "kraken"})
    s = _states(am, 4)
    assert _state(s, alertname="ExchangeFrozen", severity="P0", exchange="okx") == "active"
    assert _state(s, alertname="ExchangeDownSustained", severity="P0", exchange="okx") == "suppressed"
    assert _state(s, alertname="ExchangeDegraded", severity="P2", exchange="okx") == "suppressed"
    assert _state(s, alertname="ExchangeDownSustained", severity="P0", exchange="kraken") == "active"


def test_global_block_inhibits_lower_tier_blocks(am):
    _post(am,
          {"alertname": "RiskGuardGlobalBlock", "severity": "P0", "tier": "global", "scope": "global", "job": "d75",
           "instance": "bot:9876"},
          {"alertname": "RiskGuardExchangeBlock", "severity": "P1", "tier": "exchange", "scope": "upbit",
           "job": "d75", "instance": "bot:9876"},
          {"alertname": "RiskGuardSymbolBlock", "severity": "P2", "tier": "symbol", "scope": "BTC",
           "job": "d75", "instance": "bot:9876"},
          {"alertname": "RiskGuardRouteBlock", "severity": "P2", "tier": "route", "scope": "a-b-BTC",
           "job": "d75", "instance": "other-bot:9876"})
    s = _states(am, 4)
    assert _state(s, alertname="RiskGuardGlobalBlock", severity="P0", tier="global", scope="global") == "active"
    assert _state(s, alertname="RiskGuardExchangeBlock", severity="P1", tier="exchange", scope="upbit") == "suppressed"
    assert _state(s, alertname="RiskGuardSymbolBlock", severity="P2", tier="symbol", scope="BTC") == "suppressed"
    assert _state(s, alertname="RiskGuardRouteBlock", severity="P2", tier="route", scope="a-b-BTC") == "active"


def test_exporter_down_inhibits_everything_from_that_target(am):
    _post(am,
          {"alertname": "ExporterDown", "severity": "P0", "job": "d75", "instance": "bot:9876"},
          {"alertname": "NoActiveRoutes", "severity": "P1", "job": "d75", "instance": "bot:9876"},
          {"alertname": "GlobalDailyLoss", "severity": "P0", "job": "d75", "instance": "bot:9876"},
          {"alertname": "NoActiveRoutes", "severity": "P1", "job": "d75", "instance": "other-bot:9876"},
          {"alertname": "Watchdog", "severity": "none"})
    s = _states(am, 5)
    assert _state(s, alertname="ExporterDown", severity="P0") == "active"
    states = requests.get(f"{am}/api/v2/alerts", timeout=5).json()
    by = {(a["labels"]["alertname"], a["labels"].get("instance")): a["status"]["state"] for a in states}
    assert by[("NoActiveRoutes", "bot:9876")] == "suppressed"
    assert by[("GlobalDailyLoss", "bot:9876")] == "suppressed"
    assert by[("NoActiveRoutes", "other-bot:9876")] == "active"
    assert by[("Watchdog", None)] == "active"


# -- the direct road (Alertmanager's own Telegram and email) ----------------------------------------
@pytest.fixture
def direct_config(tmp_path):
    from catalog import render_alertmanager_config
    from catalog.render_alertmanager import NativeEmail, NativeRoad, NativeTelegram

    native = NativeRoad(telegram=NativeTelegram("123456:AAE-x", -1001234, "http://127.0.0.1:8081"),
                        email=NativeEmail("ops@example.com", "d76@example.com", "127.0.0.1:2525", "u", "p"))
    cfg = tmp_path / "alertmanager.yml"
    cfg.write_text(render_alertmanager_config(load_catalog(), receiver_url="http://127.0.0.1:9099",
                                              bearer_token_file="receiver_token", native=native))
    return cfg


def test_the_direct_road_checks_and_takes_exactly_the_pipeline_alerts(direct_config):
    r = _amtool("check-config", str(direct_config))
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr

    def route(*labels: str) -> str:
        out = _amtool("config", "routes", "test", f"--config.file={direct_config}", *labels)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    pipeline = 0
    for a in load_catalog().alerts:
        expected = "d76-watchdog" if a.name == "Watchdog" else f"d76-{a.severity.lower()}"
        if a.source == "pipeline":
            expected, pipeline = f"d76-pipeline-direct,{expected}", pipeline + 1
        assert route(f"alertname={a.name}", f"severity={a.severity or 'none'}", f"source={a.source}") == expected
    assert pipeline >= 12
    # an event the bot sends with source pipeline takes it too (a way to test the road)
    assert route("alertname=RoadTest", "severity=P3", "source=pipeline", "event=true") == "d76-pipeline-direct,d76-p3"
