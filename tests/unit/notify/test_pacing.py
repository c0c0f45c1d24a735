"""Pacing: Telegram's hard limits per lane, the P0 reserve, retry_after holds, the global limit,
severity shares, and the channel map that carries the shares."""
from __future__ import annotations

from dataclasses import replace

import pytest

from webhook_receiver.notify.channel_map import load_channel_map, parse_channel_map
from webhook_receiver.notify.channels.base import ChannelLimits
from webhook_receiver.notify.pacing import GlobalLimiter, LanePacer, Shares

TELEGRAM = ChannelLimits(min_interval=1.0, per_minute=20, global_per_second=30)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def send_all(pacer: LanePacer, clock: Clock, n: int, urgent: bool) -> list[float]:
    times = []
    for _ in range(n):
        clock.t = max(clock.t, pacer.next_slot(urgent))
        pacer.record()
        times.append(clock.t)
    return times


def test_one_a_second_and_twenty_a_minute_per_chat() -> None:
    clock = Clock()
    pacer = LanePacer(TELEGRAM, clock=clock)
    times = send_all(pacer, clock, 45, urgent=True)
    assert all(b - a >= 1.0 for a, b in zip(times, times[1:]))
    for i, t in enumerate(times):  # never more than 20 in any 60 s
        assert sum(1 for u in times[: i + 1] if u > t - 60) <= 20
    assert times[19] - times[0] == 19 and times[20] - times[0] == 60


def test_p0_takes_the_next_free_slot_and_the_reserve_is_kept_for_it() -> None:
    clock = Clock()
    pacer = LanePacer(replace(TELEGRAM, p0_reserve_per_minute=3), clock=clock)
    send_all(pacer, clock, 17, urgent=False)  # a storm of P1/P2 uses 17 of 20
    clock.t += 1.0
    assert pacer.next_slot(urgent=False) > clock.t + 40  # lower severities wait for the window
    assert pacer.next_slot(urgent=True) == clock.t  # a P0 goes at once
    send_all(pacer, clock, 3, urgent=True)
    assert pacer.next_slot(urgent=True) > clock.t + 30  # Telegram's own 20/min is the only P0 limit


def test_retry_after_holds_the_lane() -> None:
    clock = Clock()
    pacer = LanePacer(TELEGRAM, clock=clock)
    pacer.hold(7)
    assert pacer.next_slot(urgent=True) == clock.t + 7
    clock.t += 8
    assert pacer.next_slot(urgent=True) == clock.t


def test_seeded_sends_of_an_earlier_holder_count() -> None:
    clock = Clock()
    pacer = LanePacer(TELEGRAM, clock=clock)
    pacer.seed([clock.t - 30 + i for i in range(20)])
    assert pacer.next_slot(urgent=True) == clock.t + 30  # the oldest of 20 leaves the window then


def test_global_limit_across_lanes() -> None:
    clock = Clock()
    g = GlobalLimiter(30, clock=clock)
    waits = [g.reserve() for _ in range(31)]
    assert waits[:30] == [0.0] * 30 and waits[30] == pytest.approx(1.0)
    assert GlobalLimiter(0, clock=clock).reserve() == 0.0


def test_shares_split_contended_slots_in_proportion() -> None:
    clock = Clock()
    shares = Shares({"P0": 10, "P1": 5, "P2": 3, "P3": 1}, clock=clock)
    led = []
    for _ in range(18):
        s = shares.pick(["P1", "P2", "P3"])
        shares.record(s)
        led.append(s)
    assert led[0] == "P1"
    assert led.count("P1") == 10 and led.count("P2") == 6 and led.count("P3") == 2  # 5 : 3 : 1
    assert shares.pick([]) is None
    clock.t += 61
    assert shares.pick(["P2", "P3"]) == "P2"  # the window forgot


def test_channel_map_parsing(tmp_path) -> None:
    cmap = parse_channel_map({"severities": {"P0": {"channels": ["telegram"], "share_per_minute": 7},
                                             "P1": {"channels": ["telegram", "slack"]},
                                             "P3": {"channels": ["email_digest"], "telegram_budget_per_minute": 2}}})
    assert cmap.share("P0") == 7 and cmap.share("P1") == 5 and cmap.share("P3") == 2
    assert cmap.channels_for("P1") == ("telegram", "slack") and cmap.channels_for("P3") == ("email",)
    assert cmap.channels_for("P2") == ()
    with pytest.raises(ValueError, match=r"severities.P0.channels: unknown \['pager'\].*known: discord, email"):
        parse_channel_map({"severities": {"P0": {"channels": ["pager"]}, "P1": {"share_per_minute": -1}}})
    with pytest.raises(ValueError, match="P1.share_per_minute"):  # every error reported at once
        parse_channel_map({"severities": {"P0": {"channels": ["pager"]}, "P1": {"share_per_minute": -1}}})
    with pytest.raises(FileNotFoundError):
        load_channel_map(tmp_path / "missing.yml")
    p = tmp_path / "cm.yml"
    p.write_text("severities: {P2: {channels: [slack], share_per_minute: 2}}\n")
    assert load_channel_map(p).channels_for("P2") == ("slack",)
    assert load_channel_map().source == "package:channel_map.yml"  # the generated map ships in the package


def test_slots_within_a_horizon_follow_the_limits() -> None:
    t = [1000.0]
    pacer = LanePacer(ChannelLimits(min_interval=1.05, per_minute=20, p0_reserve_per_minute=3), clock=lambda: t[0])
    assert pacer.slots_within(5.0, urgent=False) == 5  # at 0, 1.05, 2.1, 3.15, 4.2
    assert pacer.slots_within(0.5, urgent=False) == 1 and pacer.slots_within(1.05, urgent=True) == 2
    for _ in range(17):  # the minute's budget for lower severities spent
        pacer.record()
        t[0] += 1.05
    assert pacer.slots_within(5.0, urgent=False) == 0
    assert pacer.slots_within(5.0, urgent=True) == 3  # the P0 reserve
    pacer.hold(10.0)
    assert pacer.slots_within(5.0, urgent=True) == 0 and pacer.slots_within(12.0, urgent=True) >= 1
