"""Pacing: per-severity and total budgets, Telegram's chat limits, P0 never folded, summaries."""
from __future__ import annotations

from webhook_receiver.notifiers import DEFAULT_CHANNEL_MAP, load_channel_map, parse_channel_map
from webhook_receiver.pacing import Decision, FoldedItem, Pacer, PacingLimits


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _pacer(clock: Clock, **kw) -> Pacer:
    return Pacer(PacingLimits.from_channel_map(DEFAULT_CHANNEL_MAP, **kw), clock=clock)


def drain(pacer: Pacer, clock: Clock, items: list[tuple[str, str]], chat: str = "c") -> tuple[list, list]:
    """Simulate a dispatcher: P0 first, waits by advancing the clock, returns (sent, folded)."""
    queue = sorted(items, key=lambda x: x[0])
    sent: list[tuple[float, str, str]] = []
    while queue:
        sev, name = queue[0]
        d = pacer.decide(sev, chat)
        if d.decision is Decision.SEND:
            pacer.record_send(sev, chat)
            sent.append((clock.t, sev, name))
            queue.pop(0)
        elif d.decision is Decision.FOLD:
            pacer.fold(chat, FoldedItem(len(sent), sev, name))
            queue.pop(0)
        else:
            assert d.until is not None and d.until > clock.t
            clock.t = d.until
    return sent, pacer.folded(chat)


def test_storm_of_1000_respects_budgets_and_folds_the_rest() -> None:
    clock = Clock()
    pacer = _pacer(clock)
    items = [("P0", "ExchangeFrozen")] * 3 + [("P1", "Http429")] * 97 + [("P2", "RouteScoreLow")] * 600 \
        + [("P2", "RateLimitLow")] * 300
    sent, folded = drain(pacer, clock, items)
    assert len(sent) + len(folded) == 1000  # nothing dropped
    assert [s[1] for s in sent[:3]] == ["P0"] * 3  # P0 first
    by_sev = {s: sum(1 for x in sent if x[1] == s) for s in ("P0", "P1", "P2")}
    assert by_sev == {"P0": 3, "P1": 5, "P2": 2}  # P1 5/min; total 10/min leaves P2 only 2
    times = [t for t, _, _ in sent]
    assert all(b - a >= 1.0 for a, b in zip(times, times[1:]))  # about 1 msg/s per chat
    assert {f.severity for f in folded} == {"P1", "P2"}


def test_p0_is_never_folded_only_delayed() -> None:
    clock = Clock()
    pacer = _pacer(clock)
    sent, folded = drain(pacer, clock, [("P0", "GlobalLoss")] * 25)
    assert folded == [] and len(sent) == 25
    times = [t for t, _, _ in sent]
    for i in range(len(times)):  # at most 10 P0 in any 60 s window
        assert sum(1 for t in times if times[i] <= t < times[i] + 60) <= 10


def test_budget_frees_after_window() -> None:
    clock = Clock()
    pacer = _pacer(clock)
    for _ in range(3):
        assert pacer.decide("P2", "c").decision is Decision.SEND
        pacer.record_send("P2", "c")
        clock.t += 1
    assert pacer.decide("P2", "c").decision is Decision.FOLD
    clock.t += 60
    assert pacer.decide("P2", "c").decision is Decision.SEND


def test_summary_interval_and_restore() -> None:
    clock = Clock()
    pacer = _pacer(clock, summary_interval=10)
    assert not pacer.summary_due("c")
    pacer.fold("c", FoldedItem(1, "P2", "A"))
    assert pacer.summary_due("c")
    items = pacer.take_folded("c")
    pacer.summary_sent("c")
    pacer.fold("c", FoldedItem(2, "P2", "B"))
    assert not pacer.summary_due("c")
    clock.t += 10
    assert pacer.summary_due("c")
    pacer.restore_folded("c", items)
    assert [i.key for i in pacer.folded("c")] == [1, 2]


def test_channel_map_parsing(tmp_path) -> None:
    cmap = parse_channel_map({"severities": {"P0": {"channels": ["telegram"], "telegram_budget_per_minute": 7},
                                             "P1": {"channels": ["telegram", "slack"]}},
                              "telegram_budget_total_per_minute": 12})
    assert cmap.budgets["P0"] == 7 and cmap.total_budget == 12
    assert cmap.channels_for("P1") == ("telegram", "slack") and cmap.channels_for("P3") == ()
    import pytest
    with pytest.raises(ValueError, match="severities.P0.channels"):
        parse_channel_map({"severities": {"P0": {"channels": ["pager"]}}})
    with pytest.raises(FileNotFoundError):
        load_channel_map(tmp_path / "missing.yml")
    p = tmp_path / "cm.yml"
    p.write_text("severities: {P2: {channels: [slack], telegram_budget_per_minute: 2}}\n")
    assert load_channel_map(p).channels_for("P2") == ("slack",)


def test_external_sends_count_once_against_the_shared_budget() -> None:
    clock = Clock()
    pacer = _pacer(clock)
    for key in ("x", "y", "y", "z"):  # "y" seen twice: counted once
        pacer.record_external(key, "P2", "c", clock.t - 5)
    pacer.record_external("old", "P2", "c", clock.t - 120)  # outside the window: ignored
    assert pacer.decide("P2", "c").decision is Decision.FOLD  # 3 of 3 used by the other process
    assert pacer.decide("P1", "c").decision is Decision.SEND
    clock.t += 56
    assert pacer.decide("P2", "c").decision is Decision.SEND
