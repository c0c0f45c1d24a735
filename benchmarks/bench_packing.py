"""When to pack: the horizon of NOTIFY_FULL_WITHIN_SECONDS measured on one Telegram group chat.

A lane driven by the real `scheduling.plan_slot`, `pacing.LanePacer` (Telegram's limits: 1.05 s between
messages to a chat, 20 a minute in a group of which 3 are kept for P0) and the real Telegram packer
(`render_packed`: what fits in 4096 characters), on a simulated clock; a page told in full (P0, P1) is
followed by its graph about a second later (as the renderer does), which takes a slot too. For each
horizon N: firing alerts are told in full, one message each, while the lane could send every one waiting
within N seconds; more are packed.

Per scenario and horizon: messages sent, alerts told in full, when the last alert was first named
(seconds after the first arrival), the longest any alert (and any P0) waited to be named, and the most
messages sent in any minute (Telegram allows 20).

Run: `.venv/bin/python -m benchmarks.run packing` (a few seconds, no servers).
"""
from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass

from tests.support.lane_sim import send_slot
from vocabulary import NotificationKind
from webhook_receiver.notify.channels.base import ChannelLimits
from webhook_receiver.notify.model import AlertView
from webhook_receiver.notify.pacing import LanePacer, Shares
from webhook_receiver.notify.scheduling import Item, plan_slot

__all__ = ["main", "simulate", "Outcome"]

SHARES = {"P0": 10, "P1": 5, "P2": 3, "P3": 1}
TELEGRAM_GROUP = ChannelLimits(min_interval=1.05, per_minute=20, p0_reserve_per_minute=3)
GRAPH_DELAY = 1.0  # the renderer's range query and matplotlib, measured 0.3 - 1 s on the stack
HORIZONS = (0.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0)
_ids = itertools.count(1)


def _item(kind: str, sev: str, name: str, alert_id: int) -> Item:
    alert = AlertView.from_row({"id": alert_id, "alertname": name, "severity": sev, "status": "firing",
                                "labels": {"exchange": f"ex{alert_id}"},
                                "annotations": {"summary": f"{name} ex{alert_id}", "value": "FROZEN"}})
    return Item({"id": next(_ids), "alert_id": alert_id, "kind": kind, "severity": sev, "payload": {}}, alert)


@dataclass
class Outcome:
    messages: int
    full: int
    last_named: float
    longest_wait: float
    longest_p0_wait: float
    max_per_minute: int


def simulate(arrivals: list[tuple[float, str, str]], horizon: float, limits: ChannelLimits = TELEGRAM_GROUP,
             until: float = 900.0) -> Outcome:
    """`arrivals`: (time, severity, alertname) of firing alerts."""
    t = [0.0]

    def clock() -> float:
        return t[0]

    pacer = LanePacer(limits, clock=clock)
    shares = Shares(SHARES, clock=clock)
    pending = sorted(((at, _item("firing", sev, name, n)) for n, (at, sev, name) in enumerate(arrivals, 1)),
                     key=lambda a: a[0])
    arrived = {i.row["alert_id"]: at for at, i in pending}
    p0 = {i.row["alert_id"] for _, i in pending if i.severity == "P0"}
    waiting: list[Item] = []
    named: dict[int, float] = {}
    sends: list[float] = []
    full = 0
    k = 0

    def slots(urgent: bool) -> int:
        return pacer.slots_within(horizon, urgent) if horizon > 0 else 1

    while t[0] < until and (k < len(pending) or waiting):
        while k < len(pending) and pending[k][0] <= t[0]:
            waiting.append(pending[k][1])
            k += 1
        ready = [i for i in waiting if i.row.get("ready_at", 0.0) <= t[0]]
        plan, _ = plan_slot(ready, can_edit=True, shares=shares, full_slots=slots(False), full_slots_p0=slots(True))
        later = [x for x in [pending[k][0] if k < len(pending) else None,
                             *(i.row["ready_at"] for i in waiting if i.row.get("ready_at", 0.0) > t[0])]
                 if x is not None]
        if plan is None:
            if not later:
                break
            t[0] = min(later)
            continue
        at = pacer.next_slot(plan.urgent)
        if at > t[0]:
            t[0] = min([at, *later])  # a new arrival (or a graph made) re-plans before the slot
            continue
        told = send_slot(plan, pacer, shares)
        sends.append(t[0])
        for i in told:
            waiting.remove(i)
            if i.kind == NotificationKind.FIRING:
                named.setdefault(i.row["alert_id"], t[0])
        if plan.shape == "single" and told[0].kind == NotificationKind.FIRING:
            full += 1
            if told[0].severity in ("P0", "P1"):  # its graph follows
                g = _item("graph", told[0].severity, told[0].alertname, told[0].row["alert_id"])
                g.row["ready_at"] = t[0] + GRAPH_DELAY
                waiting.append(g)
    waits = [named[a] - arrived[a] for a in named]
    p0_waits = [named[a] - arrived[a] for a in named if a in p0]
    per_minute = max((sum(1 for u in sends if s - 60 < u <= s) for s in sends), default=0)
    first = min(arrived.values())
    return Outcome(len(sends), full, max(named.values()) - first if named else float("nan"),
                   max(waits, default=float("nan")), max(p0_waits, default=float("nan")), per_minute)


def _together(n: int, sev: str, name: str) -> list[tuple[float, str, str]]:
    return [(0.0, sev, name)] * n


def _storm() -> list[tuple[float, str, str]]:
    """The storm benchmark's mix: 30 P0, 90 P1, 180 P2 within 10 s."""
    rng = random.Random(12)
    out = []
    for n in range(300):
        sev, name = ("P0", "ExchangeFrozen") if n % 10 == 0 else \
            (("P1", "SymbolDrawdown") if n % 10 < 4 else ("P2", "RouteScoreLow"))
        out.append((rng.uniform(0, 10), sev, name))
    return out


SCENARIOS: dict[str, Callable[[], list[tuple[float, str, str]]]] = {
    "2 P0 together": lambda: _together(2, "P0", "ExchangeFrozen"),
    "3 P0 together": lambda: _together(3, "P0", "ExchangeFrozen"),
    "6 P0 together": lambda: _together(6, "P0", "ExchangeFrozen"),
    "4 P1 together": lambda: _together(4, "P1", "ExchangeDown"),
    "10 P2 together": lambda: _together(10, "P2", "RouteScoreLow"),
    "P1 every 2 s, 1 min": lambda: [(2.0 * i, "P1", "ExchangeDown") for i in range(30)],
    "storm 300 in 10 s": _storm,
}


def main() -> None:
    print("one Telegram group chat (1.05 s, 20/min, 3 kept for P0); a full P0/P1 page is followed by its graph")
    print(f"{'scenario':22s} {'N s':>5s} {'msgs':>5s} {'full':>5s} {'last named s':>12s} {'longest wait s':>14s} "
          f"{'P0 wait s':>9s} {'max/min':>7s}")
    for name, make in SCENARIOS.items():
        arrivals = make()
        for horizon in HORIZONS:
            o = simulate(arrivals, horizon)
            print(f"{name:22s} {horizon:5.0f} {o.messages:5d} {o.full:5d} {o.last_named:12.2f} {o.longest_wait:14.2f} "
                  f"{o.longest_p0_wait:9.2f} {o.max_per_minute:7d}")
