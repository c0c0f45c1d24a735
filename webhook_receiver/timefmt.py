"""One way to write a time on every screen: the receiver's pages, `d76 history`, `d76 silence`, the
timeline: `2026-12-04 19:55:26 UTC`.

UTC unless the operator names their own zone (D76_TZ for the receiver and the commands, `--tz` on a
command): then the same shape with the zone's abbreviation, `2026-12-05 04:55:26 KST`. Durations and
ages are written one way too (`fmt_age`: `45s`, `3m`, `2h 5m`, `4d 3h`).
"""
from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["TZ_VARIABLE", "zone", "fmt_time", "fmt_age", "age_seconds"]

TZ_VARIABLE = "D76_TZ"
_SHAPE = "%Y-%m-%d %H:%M:%S"


def zone(name: str | None) -> tzinfo:
    """The zone named by `name` (an IANA name such as `Asia/Seoul`; empty or `UTC` is UTC). Raises
    ValueError naming the value for an unknown zone."""
    text = (name or "").strip()
    if not text or text.upper() in ("UTC", "Z", "ETC/UTC"):
        return UTC
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{text!r} is not a time zone; give an IANA name such as Asia/Seoul or UTC") from None


def fmt_time(dt: datetime | None, tz: tzinfo | None = None, *, ms: bool = False) -> str:
    """`2026-12-04 19:55:26 UTC` (with `ms`: `19:55:26.123`); "" for no time. A naive time is taken as
    UTC (the stores keep UTC)."""
    if dt is None:
        return ""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    local = dt.astimezone(tz or UTC)
    text = local.strftime(_SHAPE)
    if ms:
        text += f".{local.microsecond // 1000:03d}"
    name = "UTC" if (tz or UTC) is UTC else (local.tzname() or local.strftime("%z"))
    return f"{text} {name}"


def age_seconds(start: datetime | None, end: datetime | None = None, now: datetime | None = None) -> float | None:
    """Seconds from `start` to `end` (or now); None without a start or when it lies in the future."""
    if start is None:
        return None
    seconds = ((end or now or datetime.now(UTC)) - start).total_seconds()
    return seconds if seconds >= 0 else None


def fmt_age(seconds: float | None) -> str:
    """`45s`, `3m`, `2h 5m`, `4d 3h` (two units at most: an age is read at a glance); "" for None."""
    if seconds is None:
        return ""
    s = int(seconds)
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    if d:
        return f"{d}d {h}h" if h else f"{d}d"
    if h:
        return f"{h}h {m}m" if m else f"{h}h"
    if m:
        return f"{m}m"
    return f"{sec}s"


def as_utc(value: Any) -> datetime | None:
    """A stored or sent time as an aware datetime: ISO text parsed (`Z` too), a naive time taken as UTC
    (the stores keep UTC); None for nothing or text that is not a time."""
    if value is None or value == "":
        return None
    if not isinstance(value, datetime):
        try:
            value = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
