"""Adding a channel is one module: a throwaway channel written in a temporary folder, outside the
repository, announced the standard packaging way (a `*.dist-info` with an `entry_points.txt` in the
group `d76.channels`) and put on the PYTHONPATH of the real `d76 receiver` process, and nothing else.
An Alertmanager webhook posted to that process reaches the channel end to end (it appends each
message to a file), the channel's own setting turns it on and is listed with every other setting,
and the channel map (CHANNEL_MAP_FILE) routes to it by its name."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
import requests

from tests.conftest import start_receiver
from tests.support.fakes.payloads import am_alert, am_payload

TOKEN = "plugin-test-token"

CHANNEL_MODULE = '''
"""A throwaway notification channel: each message is appended to THROWAWAY_FILE as one JSON line."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from webhook_receiver.notify.channels import ChannelLimits, Destination, Part, register
from webhook_receiver.setting_parsers import load, setting, text


@dataclass(frozen=True)
class ThrowawaySettings:
    file: str | None = setting("THROWAWAY_FILE", None, "the file the throwaway channel appends to", text)


def _told(notice):
    a = notice.alert
    return {"kind": str(notice.kind), "severity": notice.severity, "alertname": a.alertname if a else None,
            "exchange": a.labels.get("exchange") if a else None}


@register
class ThrowawayChannel:
    name = "throwaway"
    settings = ThrowawaySettings
    settings_keys = ("THROWAWAY_FILE",)
    per_alert = True
    can_edit = False

    def __init__(self, path):
        self.path = Path(path)
        self.limits = ChannelLimits(min_interval=0.0, per_minute=1000)

    @classmethod
    def from_settings(cls, raw, notify):
        s = load(ThrowawaySettings, raw)
        return cls(s.file) if s.file else None

    def destinations(self, severity, labels):
        return [Destination("file")]

    def render_single(self, notice, destination):
        return [Part(json.dumps([_told(notice)]))]

    def render_packed(self, notices, destination, *, tail=(), fit=True, message_ref=None):
        return Part(json.dumps([_told(n) for n in notices])), len(notices)

    def send(self, destination, part, *, reply_to=None):
        with self.path.open("a", encoding="utf-8") as f:
            f.write(part.text + "\\n")
        return None

    def edit(self, destination, remote_id, part):
        raise NotImplementedError("a file is not edited")
'''


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    """A folder holding the channel module and its distribution's metadata, as `pip install` leaves
    them in site-packages."""
    folder = tmp_path / "plugin"
    folder.mkdir()
    (folder / "throwaway_channel.py").write_text(dedent(CHANNEL_MODULE), encoding="utf-8")
    info = folder / "d76_throwaway_channel-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: d76-throwaway-channel\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[d76.channels]\nthrowaway = throwaway_channel:ThrowawayChannel\n")
    return folder


@pytest.fixture
def receiver(tmp_path: Path, plugin_path: Path) -> Iterator[Any]:
    """`receiver(**env)`: the real `d76 receiver` with the plug-in folder on its PYTHONPATH."""
    procs = []

    def start(**env: str) -> str:
        full = {"PYTHONPATH": os.pathsep.join(filter(None, [str(plugin_path), os.environ.get("PYTHONPATH")])),
                "DATABASE_URL": f"sqlite:///{tmp_path / f'h{len(procs)}.db'}", "RECEIVER_TOKEN": TOKEN,
                "NOTIFY_POLL_SECONDS": "0.05", "DEADMAN_ENABLED": "false", **env}
        proc, url = start_receiver(tmp_path / f"receiver{len(procs)}.log", full,
                                   unset=("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "CHANNEL_MAP_FILE"))
        procs.append(proc)
        return url

    yield start
    for p in procs:
        p.stop()


def post(url: str, *alerts: dict[str, Any]) -> None:
    r = requests.post(f"{url}/webhook/alertmanager", json=am_payload(*alerts),
                      headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 200, r.text


def told(path: Path, n: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The first `n` notices the throwaway channel wrote (one message may carry several)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        notices = [x for line in lines for x in json.loads(line)]
        if len(notices) >= n:
            return notices
        assert time.monotonic() < deadline, f"the throwaway channel was told {notices}, not {n} notices"
        time.sleep(0.05)


def sent_total(url: str, channel: str, kind: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    prefix = f'd76_notifications_sent_total{{channel="{channel}",kind="{kind}"}} '
    return float(next(line[len(prefix):] for line in text.splitlines() if line.startswith(prefix)))


def test_a_channel_module_outside_the_repository_receives_an_alert_end_to_end(
        tmp_path: Path, plugin_path: Path, receiver: Any) -> None:
    out = tmp_path / "told.jsonl"
    url = receiver(THROWAWAY_FILE=str(out))  # its own setting turns it (and notifications) on
    post(url, am_alert("ExchangeDown", "P1", labels={"exchange": "upbit"}))
    [notice] = told(out, 1)
    assert notice == {"kind": "firing", "severity": "P1", "alertname": "ExchangeDown", "exchange": "upbit"}
    post(url, am_alert("ExchangeDown", "P1", labels={"exchange": "upbit"}, status="resolved",
                       ends_at="2026-11-23T02:00:00Z"))
    assert told(out, 2)[1]["kind"] == "resolved"  # cannot edit: the resolve is a message of its own
    assert sent_total(url, "throwaway", "firing") == 1 and sent_total(url, "throwaway", "resolved") == 1
    # the packaged channel map never names it: like any such channel it follows the pager's severities
    # (Telegram's: P0-P2), and P3 goes to the digest only
    post(url, am_alert("DiskFreeLowEarly", "P3", source="system", labels={"path": "/data"}))
    post(url, am_alert("ExchangeFrozen", "P0", labels={"exchange": "okx"}))
    assert told(out, 3)[2]["alertname"] == "ExchangeFrozen"
    assert "DiskFreeLowEarly" not in out.read_text(encoding="utf-8")
    # its setting is listed with every other setting of the receiver (the table the docs are made from)
    listing = subprocess.run(
        [sys.executable, "-c", "from webhook_receiver.configuration import settings_by_owner; "
                               "print(settings_by_owner()['channel throwaway'])"],
        env={**os.environ, "PYTHONPATH": str(plugin_path)}, capture_output=True, text=True, timeout=60, check=True)
    assert "THROWAWAY_FILE" in listing.stdout and "the file the throwaway channel appends to" in listing.stdout


def test_the_channel_map_routes_to_the_new_channel_by_its_name(tmp_path: Path, receiver: Any) -> None:
    out = tmp_path / "told.jsonl"
    cmap = tmp_path / "channel_map.yml"
    cmap.write_text(dedent("""\
        severities:
          P0: {channels: [telegram], share_per_minute: 10}
          P1: {channels: [throwaway], share_per_minute: 5}
          P2: {channels: [telegram, throwaway], share_per_minute: 3, quiet: true}
          P3: {channels: [email], share_per_minute: 1}
        """))
    url = receiver(THROWAWAY_FILE=str(out), CHANNEL_MAP_FILE=str(cmap))
    post(url, am_alert("ExchangeFrozen", "P0", labels={"exchange": "okx"}))  # Telegram only (the dry run)
    post(url, am_alert("ExchangeDown", "P1", labels={"exchange": "upbit"}))
    post(url, am_alert("RouteSpread", "P2", source="arb_route", labels={"route": "upbit-binance-BTC"}))
    notices = told(out, 2)
    assert sorted(n["alertname"] for n in notices) == ["ExchangeDown", "RouteSpread"]
    deadline = time.monotonic() + 15  # Telegram's lane (the dry run: no bot token) tells the P0 and the P2
    while sent_total(url, "telegram", "firing") < 2:
        assert time.monotonic() < deadline, "Telegram was not told the P0 and the P2"
        time.sleep(0.05)
    assert "ExchangeFrozen" not in out.read_text(encoding="utf-8") and len(told(out, 2)) == 2
