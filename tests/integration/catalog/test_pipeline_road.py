"""The pipeline watching itself, in a real stack (`d76 stack up`: simulator, receiver, Alertmanager,
Prometheus), with the fake Bot API as Telegram: every metric the pipeline's alerts read exists, a
calm stack fires none of them, and the only receiver SIGKILLed is told to the chat by Alertmanager's
own Telegram integration (the road that does not pass through the receiver), then told resolved
once it is back. The time from the kill to the message is printed (docs/operations.md, "When the
pipeline itself fails")."""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from catalog import load_catalog
from catalog.render_alertmanager import DIRECT_RECEIVER
from local_stack.runner import Stack
from tests.support.fakes.telegram import FakeTelegram, SentMessage
from tests.support.stacks import telegram_stack
from tests.support.waiting import until
from vocabulary import PIPELINE_SOURCE

CHAT = "-1002003004"
DIRECT_FOOTER = "Sent by Alertmanager directly, not through the receiver."
PIPELINE = [a for a in load_catalog().alerts if a.source == PIPELINE_SOURCE]


class Road:
    def __init__(self, stack: Stack, tg: FakeTelegram) -> None:
        self.stack, self.tg = stack, tg

    def query(self, expr: str) -> list[dict]:
        r = requests.get(self.stack.url("prometheus") + "/api/v1/query", params={"query": expr}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["data"]["result"]

    def direct(self, words: str, after: int = 0) -> list[SentMessage]:
        return [m for m in self.tg.messages[after:] if DIRECT_FOOTER in m.visible_text and words in m.visible_text]

    def wait_direct(self, words: str, after: int, timeout: float) -> SentMessage:
        hits = until(lambda: self.direct(words, after), timeout, 0.1, f"{words!r} told by the direct road",
                     explain=lambda: f"got {[(round(m.at, 1), m.visible_text) for m in self.tg.messages[after:]]}")
        return hits[0]


@pytest.fixture(scope="module")
def road(tmp_path_factory) -> Iterator[Road]:
    tmp = tmp_path_factory.mktemp("road")
    with telegram_stack(tmp, {"TELEGRAM_CHAT_ID": CHAT}) as (stack, tg):
        # every job (the bot, Prometheus, Alertmanager, the receiver) up and scraped twice, and a
        # rule evaluation since: the rules see them all
        deadline = time.monotonic() + 60
        r = Road(stack, tg)
        while time.monotonic() < deadline and not r.query("count(count_over_time(up[1m]) >= 2 and up == 1) >= 4"):
            time.sleep(0.5)
        time.sleep(1)
        yield r


def test_the_stack_renders_the_direct_road(road):
    text = road.stack.rendered.alertmanager_config.read_text()
    assert DIRECT_RECEIVER in text and road.tg.token in text and road.tg.api_url in text
    assert (road.stack.rendered.alertmanager_config.stat().st_mode & 0o777) == 0o600  # the bot token is in it
    assert road.stack.notes()[-1] == (f"pipeline alerts (receiver down, ...) also go from Alertmanager directly to "
                                      f"telegram chat {CHAT}")


def test_every_metric_the_pipeline_alerts_read_exists_in_a_real_stack(road):
    """The names the rules read, as Prometheus 2.42, Alertmanager 0.25 and the receiver expose them
    (the cluster size only exists in a cluster: the HA shape)."""
    metrics = {a.metric for a in PIPELINE} | {"process_start_time_seconds"}
    missing = []
    for name in sorted(metrics - {"alertmanager_cluster_members"}):
        if not road.query(f"count({name})"):
            missing.append(name)
    assert not missing, f"no series in the stack for {missing}"
    for job in ("receiver", "alertmanager", "prometheus"):
        assert road.query(f'up{{job="{job}"}} == 1'), job


def test_a_calm_stack_fires_no_pipeline_alert(road):
    assert len(PIPELINE) >= 12
    # the rules are loaded and evaluated (the Watchdog fires), and none of the pipeline's is even pending
    assert road.query('ALERTS{alertname="Watchdog"}')
    assert road.query(f'count(ALERTS{{source="{PIPELINE_SOURCE}"}})') == []


def test_the_only_receiver_killed_is_told_by_alertmanager_directly(road):
    stack = road.stack
    before = len(road.tg.messages)
    t0 = time.monotonic()
    stack.kill("receiver")
    down = road.wait_direct("Alert receiver down", before, timeout=120)
    took = down.at - t0  # both monotonic (the fake stamps each message when it arrives)
    print(f"receiver SIGKILLed -> 'Alert receiver down' in the chat by Alertmanager directly: {took:.1f} s")
    assert down.chat_id == CHAT and down.parse_mode == "HTML"
    body = down.visible_text
    assert "[P0] Alert receiver down" in body and "Do: Restart the receiver" in body, body
    assert "Runbook" in body and 'href="' in down.text and "/runbooks/receiver-down" in down.text
    # scrape (5 s) + `for` (30 s) + evaluation (0.5 s) + P0 group_wait (0 s) + the Bot API call
    assert 30 <= took < 90, took
    # nothing else told it: the receiver is dead, so every message since the kill is the direct road's
    assert all(DIRECT_FOOTER in m.visible_text for m in road.tg.messages[before:])

    # told once: Alertmanager does not retry a message the Bot API accepted, and repeats only hourly
    time.sleep(5)
    assert len(road.direct("[P0] Alert receiver down", before)) == 1

    # back: the direct road tells it resolved (after its group_interval), the receiver catches up
    after = len(road.tg.messages)
    stack.start("receiver")
    resolved = road.wait_direct("RESOLVED: Alert receiver down", after, timeout=150)
    assert resolved.chat_id == CHAT
    assert road.query('up{job="receiver"} == 1')
