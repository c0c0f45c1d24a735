"""Wall-clock times in a time zone, the way schedules mean them (pure).

A schedule says "Monday 09:00 Asia/Seoul" or "02:30 America/New_York": a wall time, which on a
daylight-saving change may happen twice (autumn: the first time is meant) or not at all (spring:
the moment the clock jumps past it is meant). `local_instant` maps a naive wall time to that
instant; it is monotone (a later wall time is never an earlier instant), so handoffs and window
edges computed with it stay in order across every change.
"""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

__all__ = ["local_instant", "wall"]


def wall(at: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall time `zone`'s clock shows at `at`."""
    return at.astimezone(zone).replace(tzinfo=None)


def local_instant(naive: datetime, zone: ZoneInfo) -> datetime:
    """The instant (UTC) when `zone`'s clock first shows `naive`, or, when the clock skips it (a
    spring-forward gap), the instant it jumps past it."""
    later = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)  # in a gap: the offset before the change
    if wall(later, zone) == naive:
        return later
    earlier = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = sorted((int(earlier.timestamp()), int(later.timestamp())))
    if wall(datetime.fromtimestamp(hi, UTC), zone) < naive:  # not a gap after all: never seen, be safe
        return later
    while hi - lo > 1:  # the first second whose wall time is at or past `naive`: the change itself
        mid = (lo + hi) // 2
        if wall(datetime.fromtimestamp(mid, UTC), zone) >= naive:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)
