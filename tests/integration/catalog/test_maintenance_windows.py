"""Recurring maintenance windows in the generated alertmanager.yml: amtool accepts the config and each
severity keeps its receiver; a real Alertmanager 0.25 mutes the alerts a window open now matches (no
webhook), notifies the others, and lists the muted ones as `active` without saying why (its API has no
`mutedBy`: the receiver computes the window itself, `test_reconcile_windows`)."""
from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from werkzeug.wrappers import Request, Response

from catalog import SEVERITIES, SOURCES, build_catalog, render_alertmanager_config
from local_stack.processes import require_binary
from tests.support.fakes import FakeHTTPServer, RecordedRequest
from tests.support.schedules import closed_window, open_window

AMTOOL = require_binary("amtool", "alertmanager")


class Sink(FakeHTTPServer):
    """Alertmanager's webhook target: records and answers 200."""

    def handle(self, request: Request, recorded: RecordedRequest) -> Response:
        return Response("{}", status=200, mimetype="application/json")

    def told(self) -> list[dict[str, str]]:
        return [a["labels"] for r in self.requests if r.json for a in r.json.get("alerts", [])]


def _config(tmp_path: Path, windows: list[dict], url: str, name: str = "alertmanager.yml") -> Path:
    cat = build_catalog({"policy": {"maintenance": windows,
                                    "severities": {"P1": {"group_wait": "0s"}, "P2": {"group_wait": "0s"}}}})
    path = tmp_path / name
    path.write_text(render_alertmanager_config(cat, receiver_url=url, bearer_token_file=None))
    return path


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=60)


def windows() -> list[dict]:
    """Made when a test runs (not at import: a parallel run may run this file much later)."""
    return [open_window("upbit-now", {"exchange": "upbit"}),
            closed_window("binance-later", {"exchange": "binance"}),
            {"name": "p3-nights", "match": {"severity": "P3", "exchange": ["okx", "upbit"]},
             "weekdays": ["monday:friday"], "times": ["00:00-06:00", "22:00-24:00"], "timezone": "Europe/Berlin"}]


def test_amtool_accepts_the_windows_and_every_severity_keeps_its_receiver(tmp_path: Path) -> None:
    cfg = _config(tmp_path, windows(), "http://127.0.0.1:9")
    r = _amtool("check-config", str(cfg))
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
    for sev in SEVERITIES:
        for labels in ([], ["exchange=upbit"], ["exchange=binance"], ["exchange=okx"],
                       ["exchange=upbit", "symbol=BTC"]):
            out = _amtool("config", "routes", "test", f"--config.file={cfg}", f"severity={sev}",
                          f"source={SOURCES[0]}", "alertname=Any", *labels)
            assert out.returncode == 0 and out.stdout.strip() == f"d76-{sev.lower()}", (sev, labels, out.stdout)
    watchdog = _amtool("config", "routes", "test", f"--config.file={cfg}", "alertname=Watchdog", "severity=none",
                       "exchange=upbit")
    assert watchdog.stdout.strip() == "d76-watchdog"
    odd = _amtool("config", "routes", "test", f"--config.file={cfg}", "alertname=Odd", "exchange=upbit")
    assert odd.stdout.strip() == "d76-p2"


@pytest.fixture
def sink() -> Sink:
    with Sink() as s:
        yield s  # type: ignore[misc]


def _post(am: str, *label_sets: dict[str, str]) -> None:
    now = datetime.now(UTC).isoformat()
    r = requests.post(f"{am}/api/v2/alerts", json=[{"labels": ls, "startsAt": now} for ls in label_sets], timeout=5)
    assert r.status_code == 200, r.text


def test_a_real_alertmanager_mutes_what_an_open_window_matches(tmp_path: Path, sink: Sink,
                                                               alertmanager_factory) -> None:
    _, am = alertmanager_factory(_config(tmp_path, windows(), sink.url))
    # a P0 on an exchange inhibits that exchange's lower severities, muted or not: one P0 each
    _post(am, *[{"alertname": "ExchangeFrozen", "severity": "P0", "exchange": ex, "source": "exchange_health"}
                for ex in ("upbit", "binance")],
          {"alertname": "ExchangeDegraded", "severity": "P2", "exchange": "bithumb", "source": "exchange_health"},
          {"alertname": "Watchdog", "severity": "none", "exchange": "upbit"})
    sink.wait_for(lambda: len(sink.told()) >= 3, timeout=20)
    time.sleep(3)  # time for Alertmanager to have told upbit's, had it not been muted
    told = {(a["exchange"], a["severity"]) for a in sink.told()}
    assert told == {("binance", "P0"), ("bithumb", "P2"), ("upbit", "none")}
    # Alertmanager 0.25 lists the muted alerts as plain active ones: no cause, no mutedBy
    listed = requests.get(f"{am}/api/v2/alerts", timeout=5).json()
    upbit = [a for a in listed if a["labels"].get("exchange") == "upbit" and a["labels"]["severity"] != "none"]
    assert len(upbit) == 1
    assert all(a["status"] == {"inhibitedBy": [], "silencedBy": [], "state": "active"} for a in upbit)


def test_outside_its_window_an_alert_is_told(tmp_path: Path, sink: Sink, alertmanager_factory) -> None:
    _, am = alertmanager_factory(_config(tmp_path, [closed_window("upbit-later", {"exchange": "upbit"})], sink.url))
    _post(am, {"alertname": "ExchangeFrozen", "severity": "P0", "exchange": "upbit"})
    sink.wait_for(lambda: any(a.get("exchange") == "upbit" for a in sink.told()), timeout=20)
