"""Telegram pacing: a pure, clock-injected budget keeper.

Budgets (per minute, sliding 60 s window) come from the channel map: per severity (P0 10, P1 5,
P2 3, P3 1) and in all (10). On top sit Telegram's own limits: about one message a second per chat
and 20 a minute per group. Decisions:

- ``SEND``: go now (call `record_send` once it went out).
- ``WAIT``: a hard Telegram limit (or P0's own budget) says not yet; retry at `until`.
- ``FOLD``: a P1-P3 item is over its budget; it goes into the next storm summary instead
  ("+37 more P2 alerts: RouteScoreLow ×20, ..."). Nothing is dropped: folded items stay in history and
  the summary counts them.

P0 is never folded; it can only wait for Telegram's hard limits or its own budget, and callers
handle P0 first. Several receiver processes share one budget: each dispatcher feeds the others'
recent sends (read from the notifications table) in through `record_external`. Summaries are subject to the hard limits only, at most one per `summary_interval`.
"""
from __future__ import annotations

import bisect
import time
from collections import defaultdict
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Hashable, Mapping

__all__ = ["Decision", "PaceDecision", "PacingLimits", "Pacer", "FoldedItem"]

NEVER_FOLDED = frozenset({"P0"})


class Decision(str, Enum):
    SEND = "send"
    WAIT = "wait"
    FOLD = "fold"


@dataclass(frozen=True)
class PaceDecision:
    decision: Decision
    until: float | None = None  # for WAIT: clock time when it may be tried again
    reason: str = ""


@dataclass(frozen=True)
class PacingLimits:
    per_severity: Mapping[str, int]
    total_per_minute: int = 10
    chat_min_interval: float = 1.0
    chat_per_minute: int = 20
    window: float = 60.0
    summary_interval: float = 15.0

    @classmethod
    def from_channel_map(cls, cmap: "object", **overrides: float) -> "PacingLimits":
        return cls(per_severity=dict(getattr(cmap, "budgets")), total_per_minute=int(getattr(cmap, "total_budget")),
                   **overrides)  # type: ignore[arg-type]


@dataclass(frozen=True)
class FoldedItem:
    key: Hashable  # e.g. the notification id
    severity: str
    alertname: str


class _Window:
    """Sorted timestamps of sends within the last `window` seconds."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.times: list[float] = []

    def count(self, now: float) -> int:
        cut = bisect.bisect_right(self.times, now - self.window)
        if cut:
            del self.times[:cut]
        return len(self.times)

    def free_at(self, now: float, limit: int) -> float:
        """When the window will have room for one more (now if it already has)."""
        n = self.count(now)
        if n < limit:
            return now
        return self.times[n - limit] + self.window

    def add(self, at: float) -> None:
        bisect.insort(self.times, at)


class Pacer:
    def __init__(self, limits: PacingLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._sev: dict[str, _Window] = defaultdict(lambda: _Window(limits.window))
        self._total = _Window(limits.window)
        self._chat: dict[str, _Window] = defaultdict(lambda: _Window(limits.window))
        self._chat_last: dict[str, float] = {}
        self._folded: dict[str, list[FoldedItem]] = defaultdict(list)
        self._last_summary: dict[str, float] = {}
        self._hold: dict[str, float] = {}
        self._external: dict[Hashable, float] = {}

    def hold(self, chat: str, until: float) -> None:
        """Telegram said 429 retry_after: send nothing to this chat before `until`."""
        self._hold[chat] = max(self._hold.get(chat, 0.0), until)

    # hard Telegram limits ------------------------------------------------------------------
    def _hard_wait(self, chat: str, now: float) -> float | None:
        until = max(now, self._hold.get(chat, now))
        last = self._chat_last.get(chat)
        if last is not None:
            until = max(until, last + self.limits.chat_min_interval)
        until = max(until, self._chat[chat].free_at(now, self.limits.chat_per_minute))
        return until if until > now else None

    def decide(self, severity: str, chat: str) -> PaceDecision:
        now = self.clock()
        budget = self.limits.per_severity.get(severity, 1)
        if severity in NEVER_FOLDED:
            free = self._sev[severity].free_at(now, max(budget, 1))
            if free > now:
                return PaceDecision(Decision.WAIT, free, f"{severity} budget {budget}/min")
        else:
            if self._sev[severity].count(now) >= budget:
                return PaceDecision(Decision.FOLD, reason=f"{severity} budget {budget}/min")
            if self._total.count(now) >= self.limits.total_per_minute:
                return PaceDecision(Decision.FOLD, reason=f"total budget {self.limits.total_per_minute}/min")
        wait = self._hard_wait(chat, now)
        if wait is not None:
            return PaceDecision(Decision.WAIT, wait, "telegram chat limit")
        return PaceDecision(Decision.SEND)

    def record_send(self, severity: str | None, chat: str) -> None:
        """Account one message that went out (severity None for summaries and system messages)."""
        now = self.clock()
        if severity is not None:
            self._sev[severity].add(now)
        self._total.add(now)
        self._chat[chat].add(now)
        self._chat_last[chat] = now

    def record_external(self, key: Hashable, severity: str | None, chat: str, at: float) -> None:
        """Account a message another receiver process sent at clock time `at` (once per `key`),
        so several processes on one database share one budget."""
        if key in self._external or at <= self.clock() - self.limits.window:
            return
        self._external[key] = at
        if severity is not None:
            self._sev[severity].add(at)
        self._total.add(at)
        self._chat[chat].add(at)
        self._chat_last[chat] = max(self._chat_last.get(chat, at), at)
        if len(self._external) > 10_000:  # forget keys far outside the window
            horizon = self.clock() - 2 * self.limits.window
            self._external = {k: t for k, t in self._external.items() if t > horizon}

    # folding -------------------------------------------------------------------------------
    def fold(self, chat: str, item: FoldedItem) -> None:
        self._folded[chat].append(item)

    def folded(self, chat: str) -> list[FoldedItem]:
        return list(self._folded.get(chat, ()))

    def summary_due(self, chat: str) -> bool:
        """A summary may go now: something is folded, the interval passed, hard limits allow."""
        if not self._folded.get(chat):
            return False
        now = self.clock()
        last = self._last_summary.get(chat)
        if last is not None and now - last < self.limits.summary_interval:
            return False
        return self._hard_wait(chat, now) is None

    def next_summary_at(self, chat: str) -> float | None:
        if not self._folded.get(chat):
            return None
        now = self.clock()
        last = self._last_summary.get(chat)
        at = now if last is None else last + self.limits.summary_interval
        hard = self._hard_wait(chat, now)
        return max(at, hard or now)

    def take_folded(self, chat: str) -> list[FoldedItem]:
        """Hand over the folded items for a summary about to be sent."""
        return self._folded.pop(chat, [])

    def summary_sent(self, chat: str) -> None:
        self._last_summary[chat] = self.clock()
        self.record_send(None, chat)

    def restore_folded(self, chat: str, items: list[FoldedItem]) -> None:
        """A summary failed to send: put its items back so the next one includes them."""
        self._folded[chat][:0] = items
