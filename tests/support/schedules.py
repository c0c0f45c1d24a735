"""Maintenance windows and on-call policies for tests, made from "now" (so a test's window is open
while it runs, whatever the clock says)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["open_window", "closed_window", "oncall_from_now"]


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def open_window(name: str, match: dict[str, Any], *, timezone: str = "Asia/Seoul",
                minutes: int = 90) -> dict[str, Any]:
    """A window (every day) open from a minute ago for `minutes` more, in `timezone`'s wall clock
    (two ranges when that crosses midnight)."""
    local = datetime.now(UTC).astimezone(ZoneInfo(timezone))
    now = local.hour * 60 + local.minute
    start, end = max(0, now - 1), now + minutes
    times = [f"{_hhmm(start)}-{_hhmm(min(end, 1440))}"]
    if end > 1440:
        times.append(f"00:00-{_hhmm(end - 1440)}")
    return {"name": name, "match": match, "times": times, "timezone": timezone}


def closed_window(name: str, match: dict[str, Any], *, timezone: str = "Asia/Seoul") -> dict[str, Any]:
    """A window that is not open now nor in the next hours: on another weekday."""
    other = (datetime.now(UTC).astimezone(ZoneInfo(timezone)) + timedelta(days=3)).strftime("%A").lower()
    return {"name": name, "match": match, "weekdays": [other], "times": ["00:00-00:01"], "timezone": timezone}


def oncall_from_now(order: list[str], people: dict[str, dict[str, str]], *, timezone: str = "Asia/Seoul",
                    started_hours_ago: float = 1.0) -> dict[str, Any]:
    """A weekly rotation whose first person took over `started_hours_ago` (so `order[0]` is on call
    now and `order[1]` next, in a week less that)."""
    began = datetime.now(UTC).astimezone(ZoneInfo(timezone)) - timedelta(hours=started_hours_ago)
    return {"people": people, "rotation": {
        "order": order, "handoff": f"{began.strftime('%a').lower()} {began.strftime('%H:%M')}",
        "timezone": timezone, "length": "1w", "start": began.date().isoformat()}}
