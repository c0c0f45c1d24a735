"""The external heartbeat on a whole stack (`Stack`: the simulator, real Prometheus, Alertmanager and
`d76 receiver`), with the fake Bot API and the fake heartbeat service (healthchecks.io's URLs).

Short intervals: HEARTBEAT_INTERVAL_SECONDS=2, DEADMAN_TIMEOUT_SECONDS=40. The Watchdog's route in
the generated alertmanager.yml has a 30 s group_interval, so Alertmanager repeats it at most every
30 s whatever its repeat_interval (the override sets 1s): the deadman timeout must exceed 30 s.

What a phone would know, measured from each SIGKILL (printed, and in docs/operations.md's table):
- Prometheus dies: the Watchdog stops being renewed; Alertmanager resolves it when its endsAt passes
  (20 s after Prometheus' last send, 4 x the 5 s resend delay) and posts the resolve at the group's
  next flush (up to 30 s later); the heartbeat calls the fail URL at its next tick after the
  resolve or after DEADMAN_TIMEOUT_SECONDS of silence, whichever comes first. Bound asserted:
  DEADMAN_TIMEOUT_SECONDS + one interval + the 20 s of endsAt (a last repeat can arrive until then).
- Prometheus back: pings resume once the new Watchdog arrives (cold start about 6 s) and the next tick.
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


def test_pings_every_interval_stop_when_prometheus_dies_resume_when_it_returns_and_stop_with_the_receiver(beat):
    hb, check = beat.hb, beat.check
    # healthy: a ping every interval, the body says why
    first = hb.wait_ping(check, "success", timeout=30)
    hb.wait_for(lambda: len(hb.successes(check, after=first.at)) >= 5, timeout=30)
    gaps = hb.gaps(check, after=first.at)
    print(f"\nheartbeat gaps (interval {INTERVAL:g} s): " + ", ".join(f"{g:.2f}" for g in gaps))
    assert all(INTERVAL * 0.5 <= g <= INTERVAL * 2 for g in gaps), gaps
    assert hb.failures(check) == [] and first.body.startswith("ok")
    # the Watchdog went the whole way once (Prometheus -> Alertmanager -> receiver)
    deadline = time.monotonic() + 60
    while not _watchdog_stored(beat.stack):
        assert time.monotonic() < deadline, "no Watchdog stored within 60 s"
        time.sleep(0.5)
    hb.wait_ping(check, "success", after=time.monotonic(), timeout=10)
    assert "Watchdog" in hb.last(check).body  # type: ignore[union-attr]

    # Prometheus dies: the fail URL is called, the reason naming the Watchdog
    beat.stack.kill("prometheus")
    killed = time.monotonic()
    fail = hb.wait_ping(check, "fail", after=killed, timeout=DEADMAN + INTERVAL + ENDS_AT + 30)
    to_fail = fail.at - killed
    assert "Watchdog" in fail.body and "Watchdog" in (fail.msg or ""), fail
    # the dead man's switch pages Telegram too (its own check every 10 s)
    page = beat.tg.wait_for(lambda: next((m for m in beat.tg.messages if "pipeline is down" in m.visible_text), None),
                            timeout=DEADMAN + 60)
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

    # the receiver dies: the pings stop
    beat.stack.kill("receiver")
    gone = time.monotonic()
    time.sleep(4 * INTERVAL)
    after = hb.pings(check, after=gone + 0.5)
    print(f"receiver SIGKILLed: {len(after)} calls in the {4 * INTERVAL:g} s after")
    assert after == []
