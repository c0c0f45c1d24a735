"""Issue 13, as an operator adopts the stack for their own bot.

A stand-in bot of the test's own (exporter hooks `D75Metrics` + `ExchangeHealthHooks` on a free port,
not the simulator) is scraped by `d76 stack up --target` on non-default ports and a non-default state
folder; its incident reaches the fake Telegram Bot API with links that answer (`policy.external_url`
set to another name of the receiver, so the links are the external ones); the CLI commands run as
subprocesses and find the stack from its state folder; `d76 stack status` follows the bot up and down.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from exporter import D75Metrics, ExchangeHealthHooks, make_metrics_app
from exporter.serve import RunningServer, serve_in_thread
from local_stack.processes import free_port, port_in_use
from tests.support import paths
from tests.support.fakes import FakeTelegram

REPO = paths.REPO
CHAT = "-1009001"


def d76(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m d76_cli.main ...` as an operator runs it (no DATABASE_URL, ALERTMANAGER_URL or
    RECEIVER_TOKEN in the environment: the commands must find the stack themselves)."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "ALERTMANAGER_URL", "RECEIVER_TOKEN", "RECEIVER_EXTERNAL_URL")}
    return subprocess.run([sys.executable, "-m", "d76_cli.main", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout, env={**base, **(env or {})})


@dataclass
class Adopted:
    state: Path
    bot: RunningServer
    health: ExchangeHealthHooks
    tg: FakeTelegram
    receiver_port: int
    alertmanager_port: int
    external: str
    up_output: str

    def wait_message(self, needle: str, timeout: float = 40.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.tg.messages:
                if needle in m.visible_text:
                    return m
            time.sleep(0.2)
        raise AssertionError(f"no Telegram message with {needle!r}; got "
                             f"{[m.visible_text.splitlines()[0] for m in self.tg.messages]}")


@pytest.fixture(scope="module")
def adopted(tmp_path_factory) -> Iterator[Adopted]:
    tmp = tmp_path_factory.mktemp("adopt")
    state = tmp / "my-state"
    ports = {name: free_port() for name in ("prometheus", "alertmanager", "receiver", "exporter")}
    external = f"http://localhost:{ports['receiver']}"  # another name of the receiver: links that answer
    override = tmp / "overrides.yml"
    override.write_text(yaml.safe_dump({"policy": {
        "external_url": external,
        "severities": {sev: {"group_wait": "1s", "group_interval": "2s"} for sev in ("P1", "P2", "P3")}}}))
    metrics = D75Metrics(process_collector=False)
    health = ExchangeHealthHooks(metrics)
    for exchange in ("upbit", "binance"):
        health.on_status(exchange, "HEALTHY")
    bot = serve_in_thread(make_metrics_app(metrics.registry), port=0)
    with FakeTelegram() as tg:
        env = {"TELEGRAM_API_URL": tg.api_url, "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_CHAT_ID": CHAT,
               "TELEGRAM_POLLING": "false", "TELEGRAM_CHAT_MIN_INTERVAL_SECONDS": "0.3",
               "TELEGRAM_CHAT_PER_MINUTE": "600", "DEADMAN_TIMEOUT_SECONDS": "600", "GRAPHS_ENABLED": "false"}
        try:
            up = d76("stack", "up", "--target", f"127.0.0.1:{bot.port}", "--state-dir", str(state),
                     "--config", str(override), "--prometheus-port", str(ports["prometheus"]),
                     "--alertmanager-port", str(ports["alertmanager"]), "--receiver-port", str(ports["receiver"]),
                     "--exporter-port", str(ports["exporter"]), env=env, timeout=120)
            assert up.returncode == 0, up.stdout + up.stderr
            yield Adopted(state, bot, health, tg, ports["receiver"], ports["alertmanager"], external, up.stdout)
        finally:
            down = d76("stack", "down", "--state-dir", str(state))
            bot.stop()
    assert down.returncode == 0, down.stdout + down.stderr
    for port in ports.values():
        assert not port_in_use(port), port


def _line(out: str, prefix: str) -> str:
    return next((line for line in out.splitlines() if line.startswith(prefix)), "")


def test_stack_up_scrapes_the_bot_not_a_simulator(adopted):
    out = adopted.up_output
    target = _line(out, "target-1")
    assert f"http://127.0.0.1:{adopted.bot.port}" in target and "healthy" in target and "prometheus: up" in target
    assert not _line(out, "exporter")  # no simulator was started
    assert f"links: messages link to {adopted.external}" in out and "local-only" not in out
    assert _line(out, "database").split()[-1] == f"sqlite:///{adopted.state.resolve()}/history.db"
    prom = yaml.safe_load((adopted.state / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "d75")
    assert job["static_configs"] == [{"targets": [f"127.0.0.1:{adopted.bot.port}"]}]


def test_an_incident_reaches_telegram_with_links_that_answer(adopted):
    adopted.health.on_status("upbit", "FROZEN")
    msg = adopted.wait_message("upbit is FROZEN")
    hrefs = re.findall(r'href="([^"]+)"', msg.text)
    runbook = next(h for h in hrefs if "/runbooks/" in h)
    assert runbook == f"{adopted.external}/runbooks/exchange-frozen"
    r = requests.get(runbook, timeout=5)
    assert r.status_code == 200 and "<h1>ExchangeFrozen</h1>" in r.text  # served as HTML
    # the history link (RECEIVER_EXTERNAL_URL from policy.external_url): a phone signs in once
    history = next(h for h in hrefs if re.search(r"/alerts/\d+$", h))
    assert history.startswith(f"{adopted.external}/alerts/")
    phone = requests.Session()
    r = phone.get(history, timeout=5)
    assert r.status_code == 401 and 'type="password"' in r.text and "FROZEN" not in r.text
    token = (adopted.state / "alertmanager" / "receiver_token").read_text().strip()
    r = phone.post(history, data={"token": token}, timeout=5)  # 303 back to the page, cookie set
    assert r.status_code == 200 and r.url == history, (r.status_code, r.url)
    assert "upbit is FROZEN" in r.text and "exchange=upbit" in r.text and "telegram" in r.text


def test_history_ack_and_filters_find_the_stack_from_its_state_folder(adopted):
    adopted.health.on_status("upbit", "FROZEN")
    adopted.wait_message("upbit is FROZEN")
    r = d76("history", "--state-dir", str(adopted.state), "--alertname", "ExchangeFrozen", "--severity", "P0")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 alert(s)" in r.stdout and "ExchangeFrozen" in r.stdout
    alert_id = re.search(r"^\s*(\d+)\s+\d+[smhd]\b", r.stdout, re.M).group(1)  # the row: its id, then its age
    r = d76("ack", alert_id, "--state-dir", str(adopted.state), "--by", "kim", "-m", "failing over")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == f"acknowledged #{alert_id} ExchangeFrozen exchange=upbit as kim: failing over"
    r = d76("ack", alert_id, "--state-dir", str(adopted.state))
    assert r.returncode == 0 and "already acknowledged by kim" in r.stdout
    r = d76("ack", "999999", "--state-dir", str(adopted.state))
    assert r.returncode == 1 and "no alert #999999" in r.stderr
    r = d76("history", "--state-dir", str(adopted.state), "--acknowledged", "true")
    assert "kim" in r.stdout and "ExchangeFrozen" in r.stdout
    # unknown filter values are refused with the valid ones listed
    r = d76("history", "--state-dir", str(adopted.state), "--source", "nonsense")
    assert r.returncode == 2 and "'nonsense' is not one of" in r.stderr and "exchange_health" in r.stderr
    r = d76("history", "--state-dir", str(adopted.state), "--severity", "P9")
    assert r.returncode == 2 and "'P9' is not one of 'P0', 'P1', 'P2', 'P3'" in r.stderr
    r = d76("history", "--state-dir", str(adopted.state), "--status", "x")
    assert r.returncode == 2 and "'x' is not one of 'firing', 'resolved'" in r.stderr


def test_silences_and_events_go_to_the_stacks_alertmanager(adopted):
    state = str(adopted.state)
    r = d76("silence", "create", "exchange=binance", "alertname=~Exchange.*", "--duration", "10m",
            "-m", "binance maintenance", "--state-dir", state)
    assert r.returncode == 0, r.stdout + r.stderr
    silence_id = r.stdout.split()[1].rstrip(":")
    am = requests.get(f"http://127.0.0.1:{adopted.alertmanager_port}/api/v2/silence/{silence_id}", timeout=5).json()
    assert am["status"]["state"] == "active" and am["comment"] == "binance maintenance"
    assert {(m["name"], m["value"], m["isRegex"]) for m in am["matchers"]} == {
        ("exchange", "binance", False), ("alertname", "Exchange.*", True)}
    r = d76("silence", "list", "--state-dir", state)
    assert silence_id in r.stdout and 'exchange="binance"' in r.stdout
    r = d76("silence", "expire", silence_id[:8], "--state-dir", state)
    assert r.returncode == 0 and f"expired silence {silence_id}" in r.stdout
    r = d76("silence", "list", "--state-dir", state)
    assert r.stdout.strip() == "no silences in force"

    r = d76("send-alert", "--severity", "P3", "--source", "system", "--title", "Adoption check",
            "--message", "sent by the test", "--state-dir", state)
    assert r.returncode == 0 and f"http://127.0.0.1:{adopted.alertmanager_port}" in r.stdout, r.stdout + r.stderr
    deadline = time.monotonic() + 30
    while True:
        r = d76("history", "--state-dir", state, "--alertname", "AdoptionCheck")
        if "1 alert(s)" in r.stdout or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert "1 alert(s)" in r.stdout, r.stdout + r.stderr
    r = d76("digest", "--state-dir", state, "--hours", "1")
    assert r.returncode == 0 and "Adoption check" in r.stdout, r.stdout + r.stderr


def test_status_follows_the_bot_up_and_down(adopted):
    r = d76("stack", "status", "--state-dir", str(adopted.state))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "prometheus: up" in _line(r.stdout, "target-1")
    adopted.bot.stop()
    deadline = time.monotonic() + 20
    while True:
        r = d76("stack", "status", "--state-dir", str(adopted.state))
        line = _line(r.stdout, "target-1")
        # a scrape in flight as the bot stops fails "connection reset"; the next ones are refused
        if ("prometheus: down" in line and "connection refused" in line) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert r.returncode == 1 and " down " in line and "connection refused" in line, r.stdout
    assert "healthy" in _line(r.stdout, "receiver") and "healthy" in _line(r.stdout, "prometheus")


def test_a_receiver_on_a_taken_port_is_one_line_naming_it(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = d76("receiver", "--listen", f"127.0.0.1:{port}", env={"DATABASE_URL": f"sqlite:///{tmp_path}/h.db"})
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: port {port} is already in use "
        "(another receiver or `d76 stack`? choose another with --listen)"]
    assert "Traceback" not in r.stderr and "dispatcher" not in r.stdout + r.stderr
    assert not (tmp_path / "h.db").exists()  # nothing started: not even the store
