"""The external heartbeat on a whole stack (`Stack`: the simulator, real Prometheus, Alertmanager and
`d76 receiver`), with the fake Bot API and the fake heartbeat service (healthchecks.io's URLs).

Short intervals: HEARTBEAT_INTERVAL_SECONDS=2, DEADMAN_TIMEOUT_SECONDS=40. The Watchdog's route in
the generated alertmanager.yml has a 30 s group_interval, so Alertmanager repeats it at most every
30 s whatever its repeat_interval (the override sets 1s): the deadman timeout must exceed 30 s.

What a phone would know, measured from each SIGKILL (printed, and in docs/operations.md's table;
the tests share the stack and run in order):
- Prometheus dies: the Watchdog stops being renewed; Alertmanager resolves it when its endsAt passes
  (20 s after Prometheus' last send, 4 x the 5 s resend delay) and posts the resolve at the group's
  next flush (up to 30 s later); the heartbeat calls the fail URL at its next tick after the
  resolve or after DEADMAN_TIMEOUT_SECONDS of silence, whichever comes first. Bound asserted:
  DEADMAN_TIMEOUT_SECONDS + one interval + the 20 s of endsAt (a last repeat can arrive until then).
- Prometheus back: pings resume once the new Watchdog arrives (cold start about 6 s) and the next tick.
- Alertmanager dies: the Watchdog stops; nothing resolves it; the fail URL is called at the first
  tick after DEADMAN_TIMEOUT_SECONDS of silence.
- The bot's exporter dies: ExporterDown (P0) reaches Telegram in seconds; the chain stays healthy.
- The receiver dies: the pings stop at once (the outside service pages after its grace time).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from local_stack.runner import Stack, StackConfig
from tests.support.fakes import FakeHeartbeat, FakeTelegram

INTERVAL = 2.0
DEADMAN = 40.0
ENDS_AT = 20.0      # 4 x the 5 s resend delay (docs/architecture.md, "Timing")
CHAT = "-100515"


class Beat:
    def __init__(self, stack: Stack, hb: FakeHeartbeat, check: str, tg: FakeTelegram) -> None:
        self.stack, self.hb, self.check, self.tg = stack, hb, check, tg


@pytest.fixture(scope="module")
def beat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Beat]:
    base = Path(tmp_path_factory.mktemp("heartbeat"))
    override = base / "overrides.yml"
    override.write_text(yaml.safe_dump({"policy": {"watchdog_repeat_interval": "1s"}}))
    with FakeHeartbeat() as hb, FakeTelegram() as tg:
        check = hb.hc_check()
        cfg = StackConfig.with_free_ports(base / "stack", catalog_override=override, receiver_env={
            "HEARTBEAT_URL": hb.hc_url(check), "HEARTBEAT_INTERVAL_SECONDS": str(INTERVAL),
            "DEADMAN_TIMEOUT_SECONDS": str(DEADMAN), "TELEGRAM_API_URL": tg.api_url,
            "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_CHAT_ID": CHAT, "TELEGRAM_POLLING": "false"})
        stack = Stack(cfg)
        try:
            stack.up()
            yield Beat(stack, hb, check, tg)
        finally:
            stack.down()


def _watchdog_stored(stack: Stack) -> bool:
    r = stack.api("GET", "/api/alerts", params={"alertname": "Watchdog"})
    return r.status_code == 200 and any(a["status"] == "firing" for a in r.json()["alerts"])


def _wait_watchdog(beat: Beat) -> None:
    """The Watchdog went the whole way (Prometheus -> Alertmanager -> receiver) and the next ping says so."""
    deadline = time.monotonic() + 60
    while not _watchdog_stored(beat.stack):
        assert time.monotonic() < deadline, "no Watchdog stored within 60 s"
        time.sleep(0.5)
    ping = beat.hb.wait_ping(beat.check, "success", after=time.monotonic(), timeout=10)
    assert "Watchdog" in ping.body


def _deadman_pages(beat: Beat) -> int:
    return sum("pipeline is down" in m.visible_text for m in beat.tg.messages)


# The tests share one stack and run in this order (a file runs on one worker, in order).
def test_pings_every_interval_stop_when_prometheus_dies_and_resume_when_it_returns(beat):
    hb, check = beat.hb, beat.check
    # healthy: a ping every interval, the body says why
    first = hb.wait_ping(check, "success", timeout=30)
    hb.wait_for(lambda: len(hb.successes(check, after=first.at)) >= 5, timeout=30)
    gaps = hb.gaps(check, after=first.at)
    print(f"\nheartbeat gaps (interval {INTERVAL:g} s): " + ", ".join(f"{g:.2f}" for g in gaps))
    assert all(INTERVAL * 0.5 <= g <= INTERVAL * 2 for g in gaps), gaps
    assert hb.failures(check) == [] and first.body.startswith("ok")
    _wait_watchdog(beat)

    # Prometheus dies: the fail URL is called, the reason naming the Watchdog
    pages = _deadman_pages(beat)
    beat.stack.kill("prometheus")
    killed = time.monotonic()
    fail = hb.wait_ping(check, "fail", after=killed, timeout=DEADMAN + INTERVAL + ENDS_AT + 30)
    to_fail = fail.at - killed
    assert "Watchdog" in fail.body and "Watchdog" in (fail.msg or ""), fail
    # the dead man's switch pages Telegram too (its own check every 10 s)
    page = beat.tg.wait_for(lambda: _deadman_pages(beat) > pages and beat.tg.messages[-1], timeout=DEADMAN + 60)
    time.sleep(3 * INTERVAL)
    while_down = hb.pings(check, after=fail.at)
    print(f"Prometheus SIGKILLed: fail URL called after {to_fail:.1f}s ({fail.body!r}); dead man's switch page "
          f"in Telegram after {page.at - killed:.1f}s")
    assert to_fail <= DEADMAN + INTERVAL + ENDS_AT + 2.0
    assert while_down and all(p.kind == "fail" for p in while_down)  # no success while Prometheus is gone

    # Prometheus back: pings resume
    beat.stack.start("prometheus")
    back = time.monotonic()
    ok = hb.wait_ping(check, "success", after=back, timeout=60)
    print(f"Prometheus restarted: pings resume {ok.at - back:.1f}s after it was ready")
    assert ok.at - back <= 30 and ok.body.startswith("ok")


def test_alertmanager_dies_the_watchdog_stops_and_the_fail_url_is_called_within_the_deadman_timeout(beat):
    hb, check = beat.hb, beat.check
    _wait_watchdog(beat)
    pages = _deadman_pages(beat)
    beat.stack.kill("alertmanager")
    killed = time.monotonic()
    # nothing resolves the Watchdog now: its last arrival (at most 30 s ago) + the timeout + one tick
    fail = hb.wait_ping(check, "fail", after=killed, timeout=DEADMAN + INTERVAL + 10)
    page = beat.tg.wait_for(lambda: _deadman_pages(beat) > pages and beat.tg.messages[-1], timeout=DEADMAN + 60)
    print(f"\nAlertmanager SIGKILLed: fail URL called after {fail.at - killed:.1f}s ({fail.body!r}); dead man's "
          f"switch page in Telegram after {page.at - killed:.1f}s")
    assert fail.body.startswith("no Watchdog for ") and fail.at - killed <= DEADMAN + INTERVAL + 2.0
    beat.stack.start("alertmanager")
    back = time.monotonic()
    ok = hb.wait_ping(check, "success", after=back, timeout=60)
    print(f"Alertmanager restarted: pings resume {ok.at - back:.1f}s after it was ready")
    assert ok.at - back <= 30


def test_the_bot_exporter_dies_exporter_down_pages_in_seconds_and_the_chain_stays_healthy(beat):
    hb, check = beat.hb, beat.check
    beat.stack.kill("exporter")
    killed = time.monotonic()
    page = beat.tg.wait_for(lambda: next((m for m in beat.tg.messages if m.at > killed
                                          and "exporter" in m.visible_text.lower() and "P0" in m.visible_text), None),
                            timeout=60)
    print(f"\nthe bot's exporter SIGKILLed: ExporterDown (P0) in Telegram after {page.at - killed:.1f}s")
    assert page.at - killed <= 15
    time.sleep(2 * INTERVAL)
    assert hb.failures(check, after=killed) == []  # the bot is down, the alerting chain is not


def test_the_receiver_dies_and_the_pings_stop(beat):
    hb, check = beat.hb, beat.check
    hb.wait_ping(check, "success", after=time.monotonic(), timeout=10)
    beat.stack.kill("receiver")
    gone = time.monotonic()
    time.sleep(4 * INTERVAL)
    after = hb.pings(check, after=gone + 0.5)
    print(f"\nreceiver SIGKILLed: {len(after)} calls in the {4 * INTERVAL:g} s after")
    assert after == []
