"""`send_alert` against a real Alertmanager running the generated configuration."""
from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
import requests

from exporter.events import AlertClient, configure, flush, send_alert
from tests.support import paths
from tests.support.history import wait_for

REPO = paths.REPO


@pytest.fixture(autouse=True)
def _spool(tmp_path):
    """`send_alert` spools into this test's folder (not the working directory)."""
    configure(spool=tmp_path / "events.sqlite3")


@pytest.fixture
def alertmanager(alertmanager_factory, tmp_path) -> str:
    cfg = tmp_path / "alertmanager.yml"
    cfg.write_text((REPO / "alertmanager/alertmanager.yml").read_text())
    (tmp_path / "receiver_token").write_text("t0ken")
    _, url = alertmanager_factory(cfg)
    return url


def _alerts(url: str, name: str) -> list[dict]:
    return [a for a in requests.get(f"{url}/api/v2/alerts", timeout=5).json() if a["labels"]["alertname"] == name]


def _wait(pred):
    return wait_for(pred, timeout=15.0, what="Alertmanager shows the alert")


def test_event_arrives_with_labels_and_routes_like_a_rule(alertmanager):
    assert send_alert("P1", "risk_guard", "Manual kill switch", "Operator stopped trading",
                      {"exchange": "upbit", "operator": "kim"}, alertmanager_url=alertmanager) is True
    assert flush(15) == 0  # the spool's thread delivered it
    [a] = _wait(lambda: _alerts(alertmanager, "ManualKillSwitch"))
    assert a["labels"] == {"alertname": "ManualKillSwitch", "severity": "P1", "source": "risk_guard",
                           "event": "true", "exchange": "upbit"}
    assert a["annotations"]["operator"] == "kim" and a["annotations"]["summary"] == "Manual kill switch"
    assert [r["name"] for r in a["receivers"]] == ["d76-p1"]
    assert a["status"]["state"] == "active"


def test_event_is_inhibited_by_a_p0_on_the_same_exchange(alertmanager):
    now = datetime.now(UTC).isoformat()
    requests.post(f"{alertmanager}/api/v2/alerts", timeout=5, json=[{
        "labels": {"alertname": "ExchangeFrozen", "severity": "P0", "source": "exchange_health",
                   "exchange": "upbit", "job": "d75"}, "startsAt": now}]).raise_for_status()
    client = AlertClient(alertmanager, strict=True)
    client.send("P2", "cross_sync", "Withdrawals suspended", "upbit paused BTC withdrawals", {"exchange": "upbit"})
    client.send("P2", "cross_sync", "Withdrawals suspended", "okx paused BTC withdrawals", {"exchange": "okx"})
    client.close()
    states = _wait(lambda: {a["labels"]["exchange"]: a["status"] for a in _alerts(alertmanager, "WithdrawalsSuspended")
                            if len(_alerts(alertmanager, "WithdrawalsSuspended")) == 2})
    assert states["upbit"]["state"] == "suppressed" and states["upbit"]["inhibitedBy"]
    assert states["okx"]["state"] == "active"


def test_background_client_delivers(alertmanager):
    client = AlertClient(alertmanager, background=True)
    for i in range(5):
        assert client.send("P3", "system", f"Nightly job {i} done", "ok") is True
    assert client.flush(10)
    client.close()
    for i in range(5):
        assert _alerts(alertmanager, f"NightlyJob{i}Done")


def test_cli_send_alert(alertmanager):
    r = subprocess.run([sys.executable, "-m", "d76_cli.main", "send-alert", "--severity", "P0", "--source", "system",
                        "--title", "Hot wallet drained", "--message", "balance 0", "--meta", "exchange=bithumb",
                        "--meta", "wallet=hot-1", "--alertmanager-url", alertmanager, "--ttl", "2m"],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 0, r.stderr
    [a] = _wait(lambda: _alerts(alertmanager, "HotWalletDrained"))
    assert a["labels"]["exchange"] == "bithumb" and a["annotations"]["wallet"] == "hot-1"
    assert [x["name"] for x in a["receivers"]] == ["d76-p0"]
    bad = subprocess.run([sys.executable, "-m", "d76_cli.main", "send-alert", "--severity", "P1", "--source", "system",
                          "--title", "x", "--message", "y", "--meta", "novalue", "--alertmanager-url", alertmanager],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert bad.returncode != 0 and "KEY=VALUE" in bad.stderr
