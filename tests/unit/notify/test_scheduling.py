"""What a lane's next slot carries: P0 first and alone, packing when more waits than one slot holds,
resolves and acknowledgements, the naming bound; and a simulated storm under Telegram's limits."""
from __future__ import annotations

import random
from dataclasses import replace

from tests.support.lane_sim import send_slot
from webhook_receiver.notify.channels.base import ChannelLimits
from webhook_receiver.notify.model import AlertView
from webhook_receiver.notify.pacing import LanePacer, Shares
from webhook_receiver.notify.scheduling import Item, plan_slot

SHARES = {"P0": 10, "P1": 5, "P2": 3, "P3": 1}
_ids = iter(range(1, 10**9))


def item(kind: str = "firing", sev: str = "P2", name: str = "RouteScoreLow", alert_id: int | None = None,
         original: dict | None = None, status: str = "firing", **payload) -> Item:
    rid = next(_ids)
    aid = alert_id if alert_id is not None else rid
    alert = AlertView.from_row({"id": aid, "alertname": name, "severity": sev, "status": status,
                                "labels": {"exchange": f"ex{aid}"}})
    row = {"id": rid, "alert_id": aid, "kind": kind, "severity": sev, "payload": payload}
    return Item(row, alert, original)


def plan(items, can_edit=True, bound=50, shares=None):
    return plan_slot(items, can_edit=can_edit, shares=shares or Shares(SHARES), name_bound=bound)


def test_a_lone_alert_goes_alone() -> None:
    p, settled = plan([item(sev="P2")])
    assert p is not None and p.shape == "single" and not settled


def test_one_p0_goes_alone_first_even_in_a_storm() -> None:
    storm = [item(sev="P2") for _ in range(30)] + [item(sev="P0", name="ExchangeFrozen")]
    p, _ = plan(storm)
    assert p.shape == "single" and p.items[0].severity == "P0" and p.urgent


def test_several_p0_are_packed_first_then_lower_severities_fill() -> None:
    storm = [item(sev="P1", name="ExchangeDown") for _ in range(3)] + \
            [item(sev="P0", name="ExchangeFrozen") for _ in range(4)]
    p, _ = plan(storm)
    assert p.shape == "packed" and p.urgent
    assert [i.severity for i in p.items] == ["P0"] * 4 + ["P1"] * 3


def test_contention_packs_and_the_lead_follows_shares() -> None:
    shares = Shares(SHARES)
    waiting = [item(sev="P2") for _ in range(5)] + [item(sev="P1", name="ExchangeDown") for _ in range(5)]
    leads = []
    for _ in range(3):
        p, _ = plan(waiting, shares=shares)
        assert p.shape == "packed" and len(p.items) == 10
        shares.record(p.lead)
        leads.append(p.lead)
        assert p.items[0].severity == p.lead
    assert leads == ["P1", "P2", "P1"]


def test_beyond_the_naming_bound_alerts_are_counted() -> None:
    waiting = [item(sev="P2") for _ in range(70)] + [item(sev="P2", name="Other") for _ in range(3)]
    p, _ = plan(waiting, bound=50)
    assert len(p.tail) == 20 and {i.alertname for i in p.tail} == {"RouteScoreLow"}
    assert len(p.items) == 53


def test_resolve_of_a_sent_message_edits_it_when_the_lane_is_quiet() -> None:
    original = {"status": "sent", "message_ref": 7}
    p, _ = plan([item(kind="resolved", sev="P1", alert_id=5, original=original, status="resolved")])
    assert p.shape == "edit" and p.message_ref == 7


def test_resolves_in_a_storm_are_packed_and_their_originals_refreshed_later() -> None:
    resolves = [item(kind="resolved", sev="P1", alert_id=100 + i, original={"status": "sent", "message_ref": 9},
                     status="resolved") for i in range(5)]
    p, _ = plan(resolves)
    assert p.shape == "packed" and len(p.items) == 5 and p.refresh_refs == [9]


def test_a_resolve_whose_firing_still_waits_is_told_in_the_same_line() -> None:
    firing = item(kind="firing", sev="P2", alert_id=42)
    resolved = item(kind="resolved", sev="P2", alert_id=42, original={"status": "pending"}, status="resolved")
    p, _ = plan([firing, resolved])
    assert p.shape == "single" and p.items[0] is firing and firing.companions == [resolved.row]


def test_acks_are_settled_or_edited() -> None:
    pending = item(kind="ack", sev="P1", alert_id=1, original={"status": "pending"})
    sent = item(kind="ack", sev="P1", alert_id=2, original={"status": "sent", "message_ref": 3})
    p, settled = plan([pending, sent])
    assert [s.rows for s in settled] == [[pending.row]]  # the first message will show it
    assert p.shape == "edit" and p.message_ref == 3
    # a channel that cannot edit tells an acknowledgement as a note
    p2, _ = plan(
        [item(kind="ack", sev="P1", alert_id=4, original={"status": "sent", "message_ref": 1})], can_edit=False
    )
    assert p2.shape == "single" and p2.items[0].kind == "ack"


def test_no_pack_rows_go_one_by_one() -> None:
    p, _ = plan([item(sev="P2", no_pack=True), item(sev="P2")])
    assert p.shape == "single" and p.items[0].no_pack


def _simulate(arrivals: list[tuple[float, Item]], limits: ChannelLimits, reserve: int = 3,
              until: float = 600.0, horizon: float = 0.0,
              shapes: list[str] | None = None) -> tuple[dict[int, float], list[float]]:
    """A lane driven by plan_slot + LanePacer + the real Telegram packer, on a fake clock, telling
    alerts in full while the lane could send them all within `horizon` seconds (0: one at most).
    Returns when each alert was named and when each message went out (`shapes`: appended each
    message's shape)."""
    t = [0.0]
    clock = lambda: t[0]  # noqa: E731
    pacer = LanePacer(replace(limits, p0_reserve_per_minute=reserve), clock=clock)
    shares = Shares(SHARES, clock=clock)
    arrivals = sorted(arrivals, key=lambda a: a[0])
    waiting: list[Item] = []
    named: dict[int, float] = {}
    sends: list[float] = []
    k = 0
    while t[0] < until and (k < len(arrivals) or waiting):
        while k < len(arrivals) and arrivals[k][0] <= t[0]:
            waiting.append(arrivals[k][1])
            k += 1
        full = {u: pacer.slots_within(horizon, u) if horizon > 0 else 1 for u in (True, False)}
        p, _ = plan_slot(list(waiting), can_edit=True, shares=shares, full_slots=full[False], full_slots_p0=full[True])
        if p is None:
            t[0] = arrivals[k][0]
            continue
        at = pacer.next_slot(p.urgent)
        nxt = arrivals[k][0] if k < len(arrivals) else float("inf")
        if at > t[0]:
            t[0] = min(at, nxt)  # a new arrival re-plans before the slot
            continue
        told = send_slot(p, pacer, shares)
        sends.append(t[0])
        if shapes is not None:
            shapes.append(p.shape)
        for i in told:
            named[i.row["alert_id"]] = t[0]
            waiting.remove(i)
    return named, sends


def _storm_of_300() -> list[tuple[float, Item]]:
    """300 alerts within 10 s, one in ten a P0 (seeded)."""
    rng = random.Random(3)
    sev_names = [("P0", "ExchangeFrozen"), ("P1", "ExchangeDown"), ("P2", "RouteScoreLow"), ("P2", "RateLimitLow")]
    arrivals = []
    for n in range(300):
        sev, name = sev_names[0] if n % 10 == 0 else rng.choice(sev_names[1:])
        arrivals.append((rng.uniform(0, 10), item(sev=sev, name=name)))
    return arrivals


def _assert_telegram_limits_held(sends: list[float]) -> None:
    """Telegram's limits: 1/s and 20 in any minute."""
    for j, s in enumerate(sends):
        assert sum(1 for u in sends[: j + 1] if u > s - 60) <= 20
    assert all(b - a >= 1.05 - 1e-9 for a, b in zip(sends, sends[1:]))


def test_twenty_p0_one_point_two_seconds_apart_each_goes_at_once() -> None:
    arrivals = [(i * 1.2, item(sev="P0", name="ExchangeFrozen")) for i in range(20)]
    named, sends = _simulate(arrivals, ChannelLimits(min_interval=1.05, per_minute=20))
    delays = [named[i.row["alert_id"]] - at for at, i in arrivals]
    assert max(delays) == 0.0  # never held by a budget of ours; 20 in 22.8 s is within Telegram's 20/min


def test_storm_of_300_every_alert_named_p0_within_30s_all_within_3_minutes() -> None:
    arrivals = _storm_of_300()
    named, sends = _simulate(arrivals, ChannelLimits(min_interval=1.05, per_minute=20))
    assert len(named) == 300  # nothing lost, nothing only counted (no alertname over the bound at once)
    p0 = [named[i.row["alert_id"]] for _, i in arrivals if i.severity == "P0"]
    assert max(p0) <= 30 and max(named.values()) <= 180
    _assert_telegram_limits_held(sends)


def test_p0s_the_lane_sends_within_the_horizon_go_in_full_one_per_slot() -> None:
    p0 = [item(sev="P0", name="ExchangeFrozen") for _ in range(2)]
    p, _ = plan_slot(p0, can_edit=True, shares=Shares(SHARES), full_slots=1, full_slots_p0=2)
    assert p.shape == "single" and p.items == [p0[0]] and p.urgent
    p, _ = plan_slot(p0, can_edit=True, shares=Shares(SHARES), full_slots=1, full_slots_p0=1)
    assert p.shape == "packed"  # beyond the horizon: one message names them all


def test_firing_alerts_the_lane_sends_within_the_horizon_go_in_full_most_severe_first() -> None:
    waiting = [item(sev="P2"), item(sev="P1", name="ExchangeDown"), item(sev="P2")]
    p, _ = plan_slot(waiting, can_edit=True, shares=Shares(SHARES), full_slots=3)
    assert p.shape == "single" and p.items == [waiting[1]]
    p, _ = plan_slot(waiting, can_edit=True, shares=Shares(SHARES), full_slots=2)
    assert p.shape == "packed" and len(p.items) == 3


def test_two_p0_firing_together_are_two_full_pages_a_second_apart() -> None:
    arrivals = [(0.0, item(sev="P0", name="ExchangeFrozen")), (0.0, item(sev="P0", name="GlobalGuardBlock"))]
    shapes: list[str] = []
    named, sends = _simulate(arrivals, ChannelLimits(min_interval=1.05, per_minute=20), horizon=5.0, shapes=shapes)
    assert shapes == ["single", "single"] and sends == [0.0, 1.05]
    assert sorted(named.values()) == [0.0, 1.05]


def test_storm_told_in_full_while_it_pays_then_packed_within_the_same_bounds() -> None:
    arrivals = _storm_of_300()
    shapes: list[str] = []
    named, sends = _simulate(arrivals, ChannelLimits(min_interval=1.05, per_minute=20), horizon=5.0, shapes=shapes)
    assert len(named) == 300 and "single" in shapes and "packed" in shapes
    p0 = [named[i.row["alert_id"]] - at for at, i in arrivals if i.severity == "P0"]
    assert max(p0) <= 30 and max(named.values()) <= 180
    _assert_telegram_limits_held(sends)


def test_a_lone_firing_alert_goes_alone_in_full_while_resolves_wait() -> None:
    resolves = [item(kind="resolved", sev="P2", alert_id=200 + i, original={"status": "sent", "message_ref": 30 + i},
                     status="resolved") for i in range(2)]
    firing = item(sev="P1", name="SymbolDrawdown")
    p, _ = plan([*resolves, firing])
    assert p.shape == "single" and p.items == [firing]


def test_a_few_resolves_edit_their_messages_one_by_one() -> None:
    resolves = [item(kind="resolved", sev="P2", alert_id=300 + i, original={"status": "sent", "message_ref": 40 + i},
                     status="resolved") for i in range(3)]
    p, _ = plan(resolves)
    assert p.shape == "edit" and p.message_ref == 40 and p.items == [resolves[0]]


# --- reminders and escalation steps -----------------------------------------------------------------------
def test_a_p0_reminder_goes_right_after_new_pages_before_answers_and_alone() -> None:
    waiting = [item(sev="P1", name="ExchangeDown"), item("reply"), item("reminder", sev="P0", reminder=1)]
    p, _ = plan(waiting)
    assert p.shape == "single" and p.items[0].kind == "reminder" and p.urgent
    p, _ = plan([*waiting, item(sev="P0", name="ExchangeFrozen")])
    assert p.items[0].kind == "firing"  # a new page first


def test_reminders_are_packed_among_themselves_escalations_first_most_severe_first() -> None:
    rem = [item("reminder", sev="P1", name="ExchangeDown") for _ in range(3)] + \
        [item("reminder", sev="P0", name="ExchangeFrozen") for _ in range(2)]
    esc = [item("escalation", sev="P1", name="ExchangeDown") for _ in range(2)]
    firing = [item(sev="P2") for _ in range(2)]
    p, _ = plan(rem + firing)
    assert p.shape == "packed" and p.urgent and {i.kind for i in p.items} == {"reminder"}
    assert [i.severity for i in p.items] == ["P0", "P0", "P1", "P1", "P1"]  # P0's lead, the others follow
    p, _ = plan([i for i in rem if i.severity == "P1"] + esc + firing)
    assert p.shape == "packed" and [i.kind for i in p.items] == ["firing", "firing"]  # new pages before nudges
    p, _ = plan([i for i in rem if i.severity == "P1"] + esc)
    assert p.shape == "packed" and {i.kind for i in p.items} == {"escalation"} and not p.urgent
