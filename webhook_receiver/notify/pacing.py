"""Pacing one lane under its service's hard limits; sharing slots between severities.

The only hard budget is the service's (Telegram: about one message a second per chat, 20 a minute
in a group, about 30 a second per bot; `retry_after` on a 429). Severity decides the order, never
whether a P0 waits: a P0 takes the next free slot, and a few of each minute's slots
(`ChannelLimits.p0_reserve_per_minute`) are kept free of lower severities so a P0 arriving in a
storm still finds one.
The seed's per-severity numbers (P0 10, P1 5, P2 3, P3 1 a minute) are `Shares`: when alerts of
several severities wait for the same slots, the slots go to them in that proportion.

Everything here is pure and clock-injected; the dispatcher calls it.
"""
from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from .channels.base import ChannelLimits
from .model import severity_rank

__all__ = ["LanePacer", "GlobalLimiter", "Shares", "WINDOW_SECONDS"]

WINDOW_SECONDS = 60.0


class LanePacer:
    def __init__(self, limits: ChannelLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.p0_reserve = max(0, min(limits.p0_reserve_per_minute, limits.per_minute - 1))
        self.clock = clock
        self._sent: list[float] = []  # sorted call times within the window
        self._hold_until = 0.0
        self._last: float | None = None

    def _trim(self, now: float) -> None:
        cut = bisect.bisect_right(self._sent, now - WINDOW_SECONDS)
        if cut:
            del self._sent[:cut]

    def seed(self, times: Iterable[float]) -> None:
        """Calls made before we held the lane (read from the database on takeover)."""
        for t in times:
            bisect.insort(self._sent, t)
            self._last = max(self._last or t, t)

    def next_slot(self, urgent: bool) -> float:
        """Earliest clock time the next call may go; `urgent` (a P0) may use the reserved slots."""
        now = self.clock()
        self._trim(now)
        t = max(now, self._hold_until)
        if self._last is not None:
            t = max(t, self._last + self.limits.min_interval)
        cap = self.limits.per_minute if urgent else self.limits.per_minute - self.p0_reserve
        if len(self._sent) >= cap:
            t = max(t, self._sent[len(self._sent) - cap] + WINDOW_SECONDS)
        return t

    def slots_within(self, seconds: float, urgent: bool, at_most: int = 100) -> int:
        """How many calls this lane could make from now until `seconds` from now, one after the other
        as fast as its limits allow (the minimum interval, the per-minute budget less the P0 reserve
        unless `urgent`, a 429's hold): the scheduler tells alerts in full while the newest waiting
        would go within that horizon (`scheduling.plan_slot`, NOTIFY_FULL_WITHIN_SECONDS)."""
        now = self.clock()
        self._trim(now)
        sent = list(self._sent)
        last = self._last
        cap = self.limits.per_minute if urgent else self.limits.per_minute - self.p0_reserve
        horizon = now + max(0.0, seconds)
        t = max(now, self._hold_until)
        n = 0
        while n < at_most:
            if last is not None:
                t = max(t, last + self.limits.min_interval)
            in_window = len(sent) - bisect.bisect_right(sent, t - WINDOW_SECONDS)
            if cap <= 0:
                break
            if in_window >= cap:
                t = max(t, sent[len(sent) - cap] + WINDOW_SECONDS)
            if t > horizon:
                break
            n += 1
            sent.append(t)
            last = t
        return n

    def record(self, at: float | None = None) -> None:
        at = self.clock() if at is None else at
        bisect.insort(self._sent, at)
        self._last = max(self._last or at, at)

    def hold(self, seconds: float) -> None:
        """The service said 429 retry_after: nothing to this lane for `seconds`."""
        self._hold_until = max(self._hold_until, self.clock() + max(0.0, seconds))


class GlobalLimiter:
    """A channel's limit across its lanes in this process (Telegram: ~30 calls a second per bot)."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self.clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take a call slot; returns how long to wait before making the call (0 when free)."""
        if self.per_second <= 0:
            return 0.0
        with self._lock:
            now = self.clock()
            while self._times and self._times[0] <= now - 1.0:
                self._times.popleft()
            at = now
            if len(self._times) >= self.per_second:
                at = self._times[len(self._times) - int(self.per_second)] + 1.0
            self._times.append(at)
            return max(0.0, at - now)


class Shares:
    """Weighted fair sharing of slots between severities (P1-P3) in the last minute.

    `pick` returns, among the severities waiting, the one furthest below its share: the fewest
    slots led in the window relative to its share. P0 never goes through here: it always leads."""

    def __init__(self, shares: Mapping[str, int], clock: Callable[[], float] = time.monotonic) -> None:
        self.shares = dict(shares)
        self.clock = clock
        self._led: dict[str, deque[float]] = {}

    def _count(self, severity: str, now: float) -> int:
        q = self._led.get(severity)
        if not q:
            return 0
        while q and q[0] <= now - WINDOW_SECONDS:
            q.popleft()
        return len(q)

    def pick(self, waiting: Iterable[str]) -> str | None:
        now = self.clock()
        options = sorted(set(waiting), key=severity_rank)
        if not options:
            return None
        return min(options, key=lambda s: ((self._count(s, now) + 1) / max(1, self.shares.get(s, 1)), severity_rank(s)))

    def record(self, severity: str | None) -> None:
        if severity:
            self._led.setdefault(severity, deque()).append(self.clock())
