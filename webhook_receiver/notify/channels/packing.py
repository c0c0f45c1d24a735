"""What every channel's packed message shares: the order of its groups, and how many notices fit.

A packed message names several alerts, grouped by (firing before resolved, severity, alertname).
Each channel renders the groups in its own markup; `fit_count` finds the largest prefix of the
notices (in the dispatcher's priority order) whose rendering a channel accepts. `plain_headline` is
the one-alert title the plain-text channels (Slack, Discord) share.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from vocabulary import NotificationKind

from ..model import AlertView, Notice, severity_rank

__all__ = ["group_notices", "fit_count", "severity_counts", "LineParts", "line_parts", "plain_headline"]

T = TypeVar("T")


def _key(n: Notice) -> tuple[bool, int, str]:
    return (n.kind == NotificationKind.RESOLVED, severity_rank(n.severity), n.alert.alertname if n.alert else "")


def group_notices(notices: Sequence[Notice]) -> list[list[Notice]]:
    """Groups in display order; members keep their relative order."""
    groups: dict[tuple[bool, int, str], list[Notice]] = {}
    for n in sorted(notices, key=_key):
        groups.setdefault(_key(n), []).append(n)
    return list(groups.values())


def severity_counts(notices: Sequence[Notice]) -> list[tuple[str, int]]:
    """(severity, count) of the firing notices, most severe first."""
    c = Counter(n.severity for n in notices if n.kind != NotificationKind.RESOLVED)
    return sorted(c.items(), key=lambda kv: severity_rank(kv[0]))


def fit_count(total: int, build: Callable[[int], T], fits: Callable[[T], bool]) -> tuple[T, int]:
    """The rendering of the largest prefix (at least 1) that `fits`; (build(1), 1) when none does."""
    lo, hi = 1, total
    best = build(1)
    if not fits(best):
        return best, 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        candidate = build(mid)
        if fits(candidate):
            lo, best = mid, candidate
        else:
            hi = mid - 1
    return best, lo


@dataclass(frozen=True)
class LineParts:
    """What one line of a packed message says about one alert; each channel marks it up."""

    identity: str
    value: str | None
    state: str | None  # "✅" resolved, "👤 name" acknowledged, "🔕" silenced, None firing
    alert_id: int | None
    runbook_url: str | None


def line_parts(n: Notice) -> LineParts:
    a = n.alert
    assert a is not None
    if n.kind == NotificationKind.RESOLVED or a.resolved:
        state: str | None = "✅"
    elif a.acknowledged_by:
        state = f"👤 {a.acknowledged_by[:40]}"
    elif a.silenced_until:
        state = "🔕"
    else:
        state = None
    return LineParts(a.identity(), a.value[:60] if a.value else None, state, a.id, a.runbook_url)



def plain_headline(alert: AlertView, kind: NotificationKind, firing_mark: str = "") -> str:
    """The one-line title of one alert's message in plain text (Slack's header, Discord's embed title):
    who acknowledged it, a reminder or escalation nobody acknowledged, else the alert itself (`firing_mark`
    before a firing one's severity, "✅ RESOLVED " before a resolved one's)."""
    resolved = kind == NotificationKind.RESOLVED or alert.resolved
    if kind == NotificationKind.ACK and alert.acknowledged_by:
        return f"👤 {alert.acknowledged_by} acknowledged [{alert.severity}] {alert.title}"
    if kind in (NotificationKind.REMINDER, NotificationKind.ESCALATION) and not resolved:
        what = "🔁 Reminder" if kind == NotificationKind.REMINDER else "⏫ Escalation"
        return f"{what}: [{alert.severity}] {alert.title} — nobody has acknowledged it"
    return ("✅ RESOLVED " if resolved else firing_mark) + f"[{alert.severity}] {alert.title}"
