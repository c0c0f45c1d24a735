"""End to end: simulator -> real Prometheus -> real Alertmanager -> receiver -> fake Telegram Bot API.

One stack for the module (`d76 stack` runner with free ports). `for` rules are shortened through
the catalog's override file, not by waiting; the chat's per-minute limit is raised so pacing does not
slow the test (pacing has its own tests). Alerts that fire together are packed into one message, so a
test looks for its alert told alone or named in a packed message. Scenarios are switched in turn; each
test returns to calm.
"""
from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
import yaml

from local_stack.runner import Stack
from tests.support.fakes import FakeTelegram
from tests.support.stacks import telegram_stack
from tests.support.waiting import until

CHAT = "-1001234"
WAIT = 40.0
OVERRIDES = {
    "alerts": {"ExchangeDownSustained": {"for": "4s"}, "NoActiveRoutes": {"for": "2s"}},
    "policy": {
        "severities": {sev: {"group_wait": "1s", "group_interval": "2s"}
                       for sev in ("P1", "P2", "P3")},
    },
}


class E2E:
    def __init__(self, stack: Stack, tg: FakeTelegram) -> None:
        self.stack, self.tg = stack, tg
        self.started = datetime.now(UTC).isoformat().replace("+00:00", "Z")

    def messages_containing(self, text: str, after: int = 0) -> list:
        return [m for m in self.tg.messages[after:] if text in m.visible_text]

    def heads(self, after: int) -> str:
        """The first lines of the messages since `after`, for a failure's message."""
        return f"got {[m.visible_text.splitlines()[0] for m in self.tg.messages[after:]]}"

    def wait_message(self, text: str, after: int = 0, timeout: float = WAIT):
        return until(lambda: self.messages_containing(text, after), timeout, 0.2,
                     f"a Telegram message containing {text!r}", explain=lambda: self.heads(after))[0]

    def wait_told(self, summary: str, severity: str, label_value: str, after: int = 0, timeout: float = WAIT):
        """The alert told alone (its summary as the title) or packed with others that fired with it
        (a line naming its identifying label under its severity's group)."""
        def told(m) -> bool:
            text = m.visible_text
            if summary in text:
                return True
            head = text.splitlines()[0]
            return " firing" in head and "alert" in head and f"[{severity}]" in text and label_value in text
        return until(lambda: [m for m in self.tg.messages[after:] if told(m)], timeout, 0.2, f"{summary!r} told",
                     explain=lambda: self.heads(after))[0]

    def history(self, **params) -> list[dict]:
        r = self.stack.api("GET", "/api/alerts", params={"since": self.started, "limit": 500, **params})
        assert r.status_code == 200, r.text
        return r.json()["alerts"]

    def wait_calm(self) -> None:
        self.stack.scenario("calm")


@pytest.fixture(scope="module")
def e2e(tmp_path_factory) -> Iterator[E2E]:
    env = {"TELEGRAM_CHAT_ID": CHAT,
           # the fake enforces no limit here: a chat's 20 a minute would only slow the test
           "TELEGRAM_CHAT_PER_MINUTE": "600", "TELEGRAM_CHAT_MIN_INTERVAL_SECONDS": "0.3"}
    with telegram_stack(tmp_path_factory.mktemp("e2e"), env, overrides=OVERRIDES,
                        simulator_args=["--tick", "0.1"]) as (stack, tg):
        yield E2E(stack, tg)


# (source, scenario, text of the Telegram message, severity, identifying label line)
PER_SOURCE = [
    ("rate_limiter", "http-429-burst", "[P1] HTTP 429 from upbit", "P1", "exchange: upbit"),
    ("exchange_health", "exchange-latency", "[P0] upbit REST latency critical", "P0", "exchange: upbit"),
    ("arb_route", "route-collapse", "[P2] Route upbit-binance-BTC score low", "P2", "route: upbit-binance-BTC"),
    ("arb_universe", "no-active-routes", "[P1] No active arbitrage routes", "P1", "state: active"),
    ("cross_sync", "inventory-imbalance", "[P2] BTC inventory imbalanced", "P2", "symbol: BTC"),
    ("risk_guard", "symbol-drawdown", "[P1] BTC drawdown over 20%", "P1", "symbol: BTC"),
]


@pytest.mark.parametrize("source,scenario,text,severity,label", PER_SOURCE, ids=[p[0] for p in PER_SOURCE])
def test_each_source_reaches_telegram_and_history(e2e, source, scenario, text, severity, label):
    before = len(e2e.tg.messages)
    e2e.stack.scenario(scenario)
    msg = e2e.wait_told(text, severity, label.split(": ")[1], before)
    body = msg.visible_text
    if text in body:  # told alone: in full
        assert label in body and f"source: {source}" in body
    else:  # several alerts fired together: packed, one line each
        assert " firing" in body.splitlines()[0]
    assert msg.chat_id == CHAT and msg.parse_mode == "HTML"
    assert msg.reply_markup and "inline_keyboard" in msg.reply_markup  # Ack / Silence buttons
    rows = [a for a in e2e.history(source=source) if a["severity"] == severity]
    assert rows, f"no {severity} {source} alert in history"
    e2e.wait_calm()


def test_frozen_exchange_pages_once_and_inhibits_its_lower_alerts(e2e):
    before = len(e2e.tg.messages)
    e2e.stack.scenario("exchange-frozen")
    frozen = e2e.wait_message("[P0] upbit is FROZEN", before)
    # no policy.external_url: the runbook link goes to this stack's receiver on its real port, and
    # answers; the receiver said once at start that such links are local-only
    runbook = re.search(r'href="([^"]*/runbooks/[^"]*)"', frozen.text).group(1)
    assert runbook == f"{e2e.stack.url('receiver')}/runbooks/exchange-frozen"
    assert requests.get(runbook, timeout=5).status_code == 200
    assert e2e.stack.logs_of("receiver").read_text().count("RECEIVER_EXTERNAL_URL is not set: links") == 1
    # Alertmanager now holds a P1 DOWN for upbit (inhibited) and one for binance (a control)
    now = datetime.now(UTC)
    alerts = [{"labels": {"alertname": "ExchangeDown", "severity": "P1", "source": "exchange_health",
                          "exchange": ex, "job": "d75"},
               "annotations": {"summary": f"{ex} is DOWN", "description": "injected"},
               "startsAt": now.isoformat()} for ex in ("upbit", "binance")]
    r = requests.post(e2e.stack.url("alertmanager") + "/api/v2/alerts", json=alerts, timeout=10)
    assert r.status_code == 200, r.text
    e2e.wait_told("[P1] binance is DOWN", "P1", "binance", before)
    time.sleep(3)  # P1 group_wait 1s + group_interval 2s: an uninhibited upbit DOWN would be here by now
    upbit_lower = [m for m in e2e.tg.messages[before:] if "exchange: upbit" in m.visible_text
                   and not m.visible_text.startswith("🚨 [P0]")]
    assert upbit_lower == [], [m.visible_text.splitlines()[0] for m in upbit_lower]
    am = requests.get(e2e.stack.url("alertmanager") + "/api/v2/alerts", timeout=10).json()
    down = {a["labels"]["exchange"]: a["status"] for a in am if a["labels"]["alertname"] == "ExchangeDown"}
    assert down["upbit"]["state"] == "suppressed" and down["upbit"]["inhibitedBy"]
    assert down["binance"]["state"] == "active"
    # resolve: back to calm edits the original P0 message
    e2e.wait_calm()
    e2e.tg.wait_for(lambda: any(e["message_id"] == frozen.message_id and "RESOLVED" in e["text"]
                                for e in e2e.tg.edits), timeout=WAIT)
    assert [a for a in e2e.history(source="exchange_health") if a["alertname"] == "ExchangeFrozen"][0]["status"] \
        == "resolved"


def test_for_rule_with_shortened_duration(e2e):
    """ExchangeDownSustained has `for: 5m` in production; the override makes it 4s."""
    before = len(e2e.tg.messages)
    t0 = time.monotonic()
    e2e.stack.scenario("exchange-down", target="bithumb")
    e2e.wait_message("[P1] bithumb is DOWN", before)
    p0 = e2e.wait_message("[P0] bithumb DOWN for 4s: failover required", before)
    assert p0.at - t0 >= 4.0, "fired before its `for` elapsed"
    e2e.wait_calm()


def test_system_source_exporter_down(e2e):
    """Last: stopping the exporter (the bot) pages ExporterDown and inhibits nothing else."""
    before = len(e2e.tg.messages)
    pid = next(p["pid"] for p in yaml.safe_load((e2e.stack.manifest_path).read_text())["pieces"]
               if p["name"] == "exporter")
    os.killpg(pid, signal.SIGTERM)
    msg = e2e.wait_message("is down", before)
    assert msg.visible_text.startswith("🚨 [P0] D75 exporter") and "source: system" in msg.visible_text
    assert any(a["alertname"] == "ExporterDown" for a in e2e.history(source="system"))
