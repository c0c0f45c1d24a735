"""One slot of a simulated Telegram lane, shared by the scheduling tests and the packing benchmark.

Both drive `plan_slot` + `LanePacer` + `Shares` on a fake clock; what one planned slot sends (the real
Telegram packer decides how many of a packed plan's alerts fit) is the same in both.
"""
from __future__ import annotations

from webhook_receiver.notify.channels.telegram.format import render_packed
from webhook_receiver.notify.model import Notice
from webhook_receiver.notify.pacing import LanePacer, Shares
from webhook_receiver.notify.scheduling import Item, SlotPlan

__all__ = ["send_slot"]


def send_slot(plan: SlotPlan, pacer: LanePacer, shares: Shares) -> list[Item]:
    """Send `plan` now: the pacer and the shares record it; returns the items the message told."""
    if plan.shape == "packed":
        _, n = render_packed([Notice(i.kind, i.alert) for i in plan.items])
        told = plan.items[:n] + plan.tail
    else:
        told = plan.items
    pacer.record()
    shares.record(plan.lead)
    return list(told)
