"""The page says what to do, on a whole stack: the simulator and a stand-in bot with a metric of its own
-> real Prometheus -> real Alertmanager -> `d76 receiver` -> the fake Bot API enforcing Telegram's limits.

One stack for the module (`local_stack.Stack` with both bots as targets, the operator's own alert of
`tests/integration/catalog/test_custom_alerts.py` in the override file). Covered: the FROZEN page (its
state by name, the action under the title, the exchange's latency and orderbook age, no `instance:`
line) and its graph (the series the catalog names, drawn from the real Prometheus); two P0s firing
together told as two full messages; the operator's own alert fires and its page shows its action.
"""
from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge

from exporter import RunningServer, make_metrics_app, serve_in_thread
from local_stack.processes import ManagedProcess, free_port, wait_http_ok
from local_stack.runner import Stack, StackConfig
from tests.integration.catalog.test_custom_alerts import OVERRIDES as OWN_ALERT
from tests.support.fakes import FakeTelegram, SentMessage, SentPhoto
from tests.support.fakes.telegram import check_png, parse_telegram_html

CHAT = "-1002100"
WAIT = 45.0
OVERRIDES = {
    **OWN_ALERT,
    "policy": {"severities": {sev: {"group_wait": "1s", "group_interval": "2s"} for sev in ("P1", "P2", "P3")}},
}


@dataclass
class Pages:
    stack: Stack
    tg: FakeTelegram
    var: Gauge  # the stand-in bot's own metric

    def wait(self, pred, what: str, after: int = 0, timeout: float = WAIT) -> list[SentMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [m for m in self.tg.messages[after:] if pred(sent(m))]
            if hits:
                return hits
            time.sleep(0.2)
        raise AssertionError(f"no message {what} within {timeout}s; got "
                             f"{[sent(m).splitlines()[0] for m in self.tg.messages[after:]]}")

    def photo_for(self, page: SentMessage, timeout: float = WAIT) -> SentPhoto:
        return self.tg.wait_for(lambda: next((p for p in self.tg.photos if p.reply_to == page.message_id), None),
                                timeout)


def sent(m: SentMessage) -> str:
    """What the message said when it was sent (later edits, a resolve, change `text`)."""
    return parse_telegram_html(m.sent_text or m.text)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pages]:
    tmp = tmp_path_factory.mktemp("pages")
    tmp.chmod(0o755)
    ov = tmp / "overrides.yml"
    ov.write_text(yaml.safe_dump(OVERRIDES, sort_keys=False))
    registry = CollectorRegistry()
    var = Gauge("my_bot_var_usd", "value at risk", ["desk"], registry=registry)
    var.labels("main").set(10_000)
    bot: RunningServer = serve_in_thread(make_metrics_app(registry), "127.0.0.1", 0)
    sim_port = free_port()
    sim = ManagedProcess("simulator", [sys.executable, "-m", "d76_cli.main", "simulate", "--scenario", "calm",
                                       "--listen", f"127.0.0.1:{sim_port}", "--tick", "0.1"],
                         tmp / "simulator.log").start()
    try:
        wait_http_ok(f"http://127.0.0.1:{sim_port}/metrics", 30, sim)
        with FakeTelegram() as tg:
            tg.enforce_limits()  # Telegram's own: 1 a second and 20 a minute in a group chat
            cfg = StackConfig.with_free_ports(
                tmp / "stack", catalog_override=ov, targets=(f"127.0.0.1:{sim_port}", f"127.0.0.1:{bot.port}"),
                receiver_env={"TELEGRAM_API_URL": tg.api_url, "TELEGRAM_BOT_TOKEN": tg.token,
                              "TELEGRAM_CHAT_ID": CHAT, "TELEGRAM_POLLING": "false",
                              "DEADMAN_TIMEOUT_SECONDS": "600"})
            cfg.exporter_port = sim_port  # Stack.scenario drives the simulator there
            stack = Stack(cfg).up()
            try:
                yield Pages(stack, tg, var)
                assert tg.rate_limited == [], "a call past Telegram's limits was refused"
            finally:
                stack.down()
    finally:
        sim.stop()
        bot.stop()


def test_frozen_page_says_what_to_do_with_the_exchange_context_and_its_graph(pages: Pages) -> None:
    before = len(pages.tg.messages)
    pages.stack.scenario("exchange-frozen")
    [page] = pages.wait(lambda t: t.startswith("🚨 [P0] upbit is FROZEN"), "for upbit FROZEN", before)[:1]
    lines = sent(page).splitlines()
    assert lines[1].startswith("👉 Action: The bot halted trading on upbit.")
    assert lines[2] == "exchange: upbit · value: FROZEN"
    now = next(ln for ln in lines if ln.startswith("Now: "))
    assert now.startswith("Now: status FROZEN · REST latency ") and "orderbook age " in now
    assert not any(ln.startswith(("instance:", "job:")) or "instance: " in ln for ln in lines)
    assert "graph:" not in sent(page) and "threshold:" not in sent(page)
    # the graph: the series the catalog names for FROZEN, from the real Prometheus
    photo = pages.photo_for(page)
    width, height = check_png(photo.png)
    assert width == 800 and height > 360  # several panels
    assert "upbit orderbook age" in (photo.caption or "") and "upbit REST latency" in (photo.caption or "")
    pages.stack.scenario("calm")


def test_two_p0_firing_together_arrive_as_two_full_messages(pages: Pages) -> None:
    time.sleep(3)  # the frozen page's resolve went out
    before = len(pages.tg.messages)
    pages.stack.scenario("global-daily-loss")  # GlobalDailyLoss and RiskGuardGlobalBlock, both P0
    p0 = pages.wait(lambda t: t.startswith("🚨 [P0]") and "Resolved" not in t, "for the two P0s", before)
    deadline = time.monotonic() + WAIT
    while len(p0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        p0 = [m for m in pages.tg.messages[before:] if sent(m).startswith("🚨 [P0]")]
    assert len(p0) == 2, [sent(m).splitlines()[0] for m in pages.tg.messages[before:]]
    titles = sorted(sent(m).splitlines()[0] for m in p0)
    assert titles == ["🚨 [P0] Risk guard BLOCK (global)", "🚨 [P0] Total daily loss over 50,000 USD"]
    for m in p0:
        lines = sent(m).splitlines()
        assert lines[1].startswith("👉 Action: ")  # each in full, with its action: not a packed list
        assert "alert: " in sent(m) and " firing" not in lines[0]
    block = next(sent(m) for m in p0 if sent(m).startswith("🚨 [P0] Risk guard BLOCK"))
    assert "tier: global · scope: global · value: BLOCK" in block and "instance" not in block
    assert abs(p0[1].at - p0[0].at) < 5.0  # the second a slot later, not held
    pages.stack.scenario("calm")


def test_the_operators_own_alert_fires_on_the_stack_and_its_page_shows_its_action(pages: Pages) -> None:
    before = len(pages.tg.messages)
    pages.var.labels("main").set(62_500)
    try:
        [page] = pages.wait(lambda t: "VaR of main over 50,000 USD" in t, "for the own alert", before)[:1]
    finally:
        pages.var.labels("main").set(1_000)
    lines = sent(page).splitlines()
    assert lines[0] == "⚠️ [P1] VaR of main over 50,000 USD"
    assert lines[1] == "👉 Action: The bot halves position sizes on main; check the VaR model inputs."
    assert "desk: main · team: risk · value: 62,500 USD" in lines
    assert "Value at risk of desk main is 62,500 USD." in lines
    assert "source: my_bot" in sent(page) and "instance" not in sent(page)


def test_check_config_of_the_stacks_receiver_settings(pages: Pages, tmp_path: Path) -> None:
    """The stack's receiver settings pass `d76 receiver --check-config` (the map routes nothing to a
    channel missing there but Slack and email, which the stack does not configure)."""
    env = {"CHANNEL_MAP_FILE": str(pages.stack.state / "channel_map.yml"), "TELEGRAM_BOT_TOKEN": "1:x",
           "TELEGRAM_CHAT_ID": CHAT, "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "d76_cli.main", "receiver", "--check-config"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    warnings = [ln for ln in r.stdout.splitlines() if ln.startswith("warning: ")]
    assert any("to slack, which is not configured" in w for w in warnings)
    assert not any("telegram" in w for w in warnings)
