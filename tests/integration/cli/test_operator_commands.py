"""The operator's commands against a real Alertmanager and the real `d76 receiver` process, as run
from a shell: `d76 send-alert` prints the event's identity and its history id; `d76 silence create`
says what it matches and `d76 silence list` writes times in the one format; `d76 history` on an
80-column terminal shows the silenced alert as silenced (learnt from Alertmanager, the same answer as
the pages), with where it is."""
from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from local_stack.processes import free_port, start_alertmanager
from tests.conftest import D76, start_receiver
from tests.support.history import wait_for

TOKEN = "operator-commands-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


@dataclass(frozen=True)
class Setup:
    receiver: str
    alertmanager: str
    database_url: str


def d76(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    return subprocess.run([D76, *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "RECEIVER_TOKEN": TOKEN, "COLUMNS": str(columns)})


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("commands")
    port, am_port = free_port(), free_port()
    config = tmp / "alertmanager.yml"
    config.write_text(f"""route:
  receiver: d76-p0
  group_by: [alertname, exchange]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: d76-p0
    webhook_configs:
      - url: http://127.0.0.1:{port}/webhook/alertmanager
        http_config:
          authorization:
            credentials: {TOKEN}
""")
    am = start_alertmanager(config, am_port, tmp / "am-data", tmp / "am.log")
    db = f"sqlite:///{tmp / 'history.sqlite3'}"
    rcv, url = start_receiver(tmp / "receiver.log", {
        "DATABASE_URL": db, "RECEIVER_TOKEN": TOKEN, "ALERTMANAGER_URL": f"http://127.0.0.1:{am_port}",
        "NOTIFICATIONS_ENABLED": "false", "HISTORY_RECONCILE_INTERVAL_SECONDS": "0.5"}, port=port)
    try:
        yield Setup(url, f"http://127.0.0.1:{am_port}", db)
    finally:
        rcv.stop()
        am.stop()


def test_send_alert_says_which_event_and_its_history_id(setup: Setup) -> None:
    r = d76("send-alert", "--severity", "P0", "--source", "risk_guard", "--title", "Manual kill switch",
            "--message", "stopped by hand", "--meta", "exchange=upbit", "--meta", "operator=kim", "--ttl", "10m",
            "--alertmanager-url", setup.alertmanager, "--receiver-url", setup.receiver)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"sent P0 event to {setup.alertmanager}"
    assert lines[1] == "  alertname=ManualKillSwitch severity=P0 source=risk_guard event=true exchange=upbit"
    assert re.fullmatch(rf"  ends {TIME} unless sent again", lines[2]), lines[2]
    m = re.fullmatch(rf"  history #(\d+): {re.escape(setup.receiver)}/alerts/(\d+)", lines[3])
    assert m and m.group(1) == m.group(2), lines[3]
    row = requests.get(f"{setup.receiver}/api/alerts/{m.group(1)}", headers=AUTH, timeout=5).json()["alert"]
    assert row["alertname"] == "ManualKillSwitch" and row["labels"]["exchange"] == "upbit"
    # without a receiver to ask (and --wait 0) it says no more than it knows
    r = d76("send-alert", "--severity", "P3", "--source", "system", "--title", "Quiet note", "--message", "x",
            "--alertmanager-url", setup.alertmanager, "--wait", "0")
    assert r.returncode == 0 and "history #" not in r.stdout and "alertname=QuietNote" in r.stdout, r.stdout


def test_a_silence_from_the_shell_is_what_history_shows_on_80_columns(setup: Setup) -> None:
    r = d76("send-alert", "--severity", "P0", "--source", "exchange_health", "--title", "Exchange frozen by hand",
            "--message", "m", "--meta", "exchange=bithumb", "--alertmanager-url", setup.alertmanager,
            "--receiver-url", setup.receiver)
    assert r.returncode == 0 and "history #" in r.stdout, r.stdout + r.stderr
    alert_id = re.search(r"history #(\d+)", r.stdout).group(1)
    r = d76("silence", "create", "exchange=bithumb", "--by", "lee", "-m", "bithumb maintenance", "--duration", "45m",
            "--alertmanager-url", setup.alertmanager)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(rf'exchange="bithumb" until {TIME}$', r.stdout.splitlines()[0]), r.stdout
    assert "it matches 1 alert(s) firing now: ExchangeFrozenByHand exchange=bithumb" in r.stdout
    listed = d76("silence", "list", "--alertmanager-url", setup.alertmanager).stdout
    assert re.search(rf"active +until {TIME}  exchange=\"bithumb\"  by lee: bithumb maintenance", listed), listed

    def shows_silenced() -> str | None:
        out = d76("history", "--database-url", setup.database_url, "--alertname", "ExchangeFrozenByHand").stdout
        return out if re.search(r"silenced\s*$", out, re.M) else None

    out = wait_for(shows_silenced, 20, "d76 history showing the silence")
    assert max(len(line) for line in out.splitlines()) <= 80, out
    assert "exchange=bithumb" in out and "by lee" in out
    timeline = d76("history", "--database-url", setup.database_url, "--id", alert_id).stdout
    event = r"\d\d:\d\d:\d\d\.\d{3} UTC  silenced +episode_id=\d+, silence_id=.*by=lee, comment=bithumb maintenance"
    assert re.search(event, timeline), timeline
