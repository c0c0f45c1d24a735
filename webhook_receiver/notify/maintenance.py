"""Recurring maintenance windows: named weekly windows with label matchers, muted by Alertmanager.

Written in the override file (`policy.maintenance`), rendered by the catalog into Alertmanager's
`time_intervals` and the routes' `mute_time_intervals`, and into the receiver's channel map
(`maintenance:`), which this module parses:

    maintenance:
    - name: upbit-weekly
      match: {exchange: upbit}          # label: value, or label: [value, value] (any of them)
      weekdays: [thursday]              # monday..sunday, `mon`, or ranges `monday:friday`; none: every day
      times: ["10:00-10:30"]            # HH:MM-HH:MM, end exclusive, up to 24:00; none: the whole day
      timezone: Asia/Seoul              # IANA name (Alertmanager's `location`); default UTC

The receiver uses the same definitions to say *why* Alertmanager holds an alert back: Alertmanager
0.25 lists an alert muted by a time interval as `active` (its API has no `mutedBy`), so the
reconciler asks `MaintenanceSchedule.muted_by(labels, at)` and records a `muted` episode with the
window's name. The rule is Alertmanager's (`timeinterval.TimeInterval.ContainsTime`): the time is
taken in the window's location; its weekday must be listed and its minute of the day within
[start, end) of one range. Watchdog is never muted (its route comes before any window).

Pure: parsing, checks (`maintenance_errors`, every problem naming its key, also used by the
catalog), matching, occurrences.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vocabulary import WATCHDOG

from .config_checks import mapping_entries, unknown_keys
from .wallclock import wall

__all__ = ["Window", "MaintenanceSchedule", "parse_maintenance", "maintenance_errors", "WEEKDAYS",
           "WINDOW_KEYS", "am_interval_name", "valid_timezone", "window_routes", "TooManyRoutes"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY = {d: i for i, d in enumerate(WEEKDAYS)} | {d[:3]: i for i, d in enumerate(WEEKDAYS)}
WINDOW_KEYS = ("name", "match", "weekdays", "times", "timezone")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_TIMES = re.compile(r"^([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})$")
_BAD_VALUE = re.compile(r'["\\\n\r]')
_RE_SPECIAL = re.compile(r"([.^$*+?()\[\]{}|])")
HEARTBEATS = frozenset({WATCHDOG})
MAX_WINDOWS = 50
MAX_ROUTES = 500  # per parent route (each severity's route gets the same subtree)


def am_interval_name(window_name: str) -> str:
    """The window's name in Alertmanager's `time_intervals` (prefixed: a merge into an operator's
    own alertmanager.yml must not clash with their intervals)."""
    return f"d76-{window_name}"


def valid_timezone(name: Any) -> bool:
    if not isinstance(name, str) or not name or len(name) > 64 or ".." in name or name.startswith("/"):
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Window:
    name: str
    match: Mapping[str, tuple[str, ...]]
    weekdays: tuple[int, ...] = ()              # 0 = Monday; empty: every day
    times: tuple[tuple[int, int], ...] = ()     # [start, end) in minutes of the day; empty: all day
    timezone: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # zoneinfo keeps one instance per name

    def matches(self, labels: Mapping[str, str]) -> bool:
        if labels.get("alertname") in HEARTBEATS:
            return False
        return all(labels.get(k, "") in values for k, values in self.match.items())

    def active_at(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        if self.weekdays and local.weekday() not in self.weekdays:
            return False
        minute = local.hour * 60 + local.minute
        return not self.times or any(s <= minute < e for s, e in self.times)

    def _ranges(self) -> tuple[tuple[int, int], ...]:
        return self.times or ((0, 1440),)

    def occurrences(self, after: datetime, days: int = 8) -> Iterator[tuple[datetime, datetime]]:
        """Each (start, end) of the window that ends after `after`, in order, over the next `days` local
        days; exact across daylight-saving changes (a range on a day the clock repeats an hour can
        happen twice; one the clock skips may not happen at all). Ranges that touch are one occurrence;
        one still running at the end of the days looked at ends there."""
        zone = self.zone
        first = wall(after, zone).date() - timedelta(days=1)
        edges = {0, *(m for r in self._ranges() for m in r if m < 1440)}
        points: set[datetime] = set()
        for d in range(days + 3):  # from the day before to the day after the days asked for
            day = first + timedelta(days=d)
            for minute in edges:
                naive = datetime.combine(day, time(0)) + timedelta(minutes=minute)
                points.update(naive.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1))
            points.update(_offset_changes(day, zone))
        # the state changes only where the wall clock reaches an edge (or jumps): constant in between
        ordered = sorted(points)
        span: tuple[datetime, datetime] | None = None
        for a, b in zip(ordered, ordered[1:]):
            if not self.active_at(a):
                continue
            if span is not None and span[1] == a:
                span = (span[0], b)
                continue
            if span is not None and span[1] > after:
                yield span
            span = (a, b)
        if span is not None and span[1] > after:
            yield span

    def next_occurrence(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence in force at `at`, else the next one (None: none within eight days)."""
        return next(self.occurrences(at), None)

    # Alertmanager ---------------------------------------------------------------------------------
    def am_matchers(self) -> list[str]:
        out = []
        for label, values in self.match.items():
            if len(values) == 1:
                out.append(f'{label}="{values[0]}"')
            else:
                either = "|".join(_RE_SPECIAL.sub(r"\\\1", v) for v in values)
                out.append(f'{label}=~"{either}"')
        return out

    def time_interval(self) -> dict[str, Any]:
        """The window as one entry of Alertmanager's `time_intervals`."""
        spec: dict[str, Any] = {}
        if self.weekdays:
            spec["weekdays"] = [WEEKDAYS[d] for d in self.weekdays]
        if self.times:
            spec["times"] = [{"start_time": _hhmm(s), "end_time": _hhmm(e)} for s, e in self.times]
        spec["location"] = self.timezone
        return {"name": am_interval_name(self.name), "time_intervals": [spec]}

    def overlaps(self, other: Window) -> bool:
        """Whether one alert could match both windows (no label they both name has disjoint values)."""
        return all(set(self.match[k]) & set(other.match[k]) for k in set(self.match) & set(other.match))

    def document(self) -> dict[str, Any]:
        """The window as the channel map carries it (canonical)."""
        doc: dict[str, Any] = {"name": self.name,
                               "match": {k: v[0] if len(v) == 1 else list(v) for k, v in self.match.items()}}
        if self.weekdays:
            doc["weekdays"] = [WEEKDAYS[d] for d in self.weekdays]
        if self.times:
            doc["times"] = [f"{_hhmm(s)}-{_hhmm(e)}" for s, e in self.times]
        doc["timezone"] = self.timezone
        return doc

    def describe(self) -> str:
        days = ", ".join(WEEKDAYS[d][:3] for d in self.weekdays) if self.weekdays else "every day"
        times = ", ".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in self.times) if self.times else "all day"
        return f"{days} {times} {self.timezone}"

    def scope(self) -> str:
        return " ".join(f"{k}={v[0]}" if len(v) == 1 else f"{k}=~{'|'.join(v)}" for k, v in self.match.items())


@dataclass(frozen=True)
class MaintenanceSchedule:
    windows: tuple[Window, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.windows)

    def muted_by(self, labels: Mapping[str, str], at: datetime) -> list[str]:
        """Names of the windows muting an alert with these labels at `at`."""
        return [w.name for w in self.windows if w.matches(labels) and w.active_at(at)]

    def upcoming(self, at: datetime) -> list[tuple[Window, tuple[datetime, datetime] | None]]:
        """Each window with its occurrence in force or next, soonest first."""
        far = datetime.max.replace(tzinfo=UTC)
        rows = [(w, w.next_occurrence(at)) for w in self.windows]
        return sorted(rows, key=lambda r: r[1][0] if r[1] else far)


def _offset_changes(day: date, zone: ZoneInfo) -> list[datetime]:
    """The instant the zone's UTC offset changes during `day` (local), if it does."""
    lo = datetime.combine(day, time(0)).replace(tzinfo=zone).astimezone(UTC)
    hi = lo + timedelta(hours=26)
    if lo.astimezone(zone).utcoffset() == hi.astimezone(zone).utcoffset():
        return []
    a, b = int(lo.timestamp()), int(hi.timestamp())
    off = lo.astimezone(zone).utcoffset()
    while b - a > 1:
        mid = (a + b) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(zone).utcoffset() == off:
            a = mid
        else:
            b = mid
    return [datetime.fromtimestamp(b, UTC)]


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _days(value: Any, key: str, errors: list[str]) -> tuple[int, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        errors.append(f"{key}: a non-empty list of weekdays (monday..sunday, or a range like monday:friday)")
        return ()
    out: list[int] = []
    for n, item in enumerate(value):
        text = item.lower().strip() if isinstance(item, str) else None
        first, _, last = (text or "").partition(":")
        if text is None or first not in _DAY or (last and last not in _DAY):
            errors.append(f"{key}[{n}]: not a weekday (monday..sunday, mon..sun, or a range like "
                          f"monday:friday), got {item!r}")
            continue
        a, b = _DAY[first], _DAY[last or first]
        span = range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)]
        out.extend(d for d in span if d not in out)
    return tuple(sorted(out))


def _times(value: Any, key: str, errors: list[str]) -> tuple[tuple[int, int], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        errors.append(f"{key}: a non-empty list of ranges like \"10:00-10:30\"")
        return ()
    out = []
    for n, item in enumerate(value):
        m = _TIMES.match(item) if isinstance(item, str) else None
        if not m:
            errors.append(f"{key}[{n}]: a range HH:MM-HH:MM like \"10:00-10:30\", got {item!r}")
            continue
        h1, m1, h2, m2 = map(int, m.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or end > 1440:
            errors.append(f"{key}[{n}]: {item!r} is not a time of day (00:00 to 24:00)")
        elif end <= start:
            errors.append(f"{key}[{n}]: {item!r} ends before it starts (a window past midnight is two "
                          f"ranges on two days: \"22:00-24:00\" and \"00:00-02:00\")")
        else:
            out.append((start, end))
    return tuple(sorted(out))


def _match(value: Any, key: str, errors: list[str]) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict) or not value:
        errors.append(f"{key}: a non-empty mapping of label: value (or label: [value, ...]), "
                      "e.g. {exchange: upbit}")
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for label, v in value.items():
        k = f"{key}.{label}"
        if not isinstance(label, str) or not _LABEL.match(label):
            errors.append(f"{k}: not a label name")
            continue
        values = v if isinstance(v, list) else [v]
        if not values or not all(isinstance(x, str) and x and not _BAD_VALUE.search(x) for x in values):
            errors.append(f"{k}: a non-empty string (or a list of them) without quotes, backslashes or "
                          f"newlines, got {v!r}")
            continue
        out[label] = tuple(dict.fromkeys(values))
    return out


def maintenance_errors(raw: Any, key: str = "maintenance") -> list[str]:
    """Every problem of a `maintenance` list, one line each naming its key."""
    errors: list[str] = []
    _parse(raw, key, errors)
    return errors


def _parse(raw: Any, key: str, errors: list[str]) -> tuple[Window, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        errors.append(f"{key}: expected a list of windows, got {type(raw).__name__}")
        return ()
    if len(raw) > MAX_WINDOWS:
        errors.append(f"{key}: at most {MAX_WINDOWS} windows")
    out: list[Window] = []
    names: set[str] = set()
    for k, w in mapping_entries(raw, key, "expected a mapping (name, match, weekdays, times, timezone)", errors):
        before = len(errors)
        errors += unknown_keys(w, sorted(WINDOW_KEYS), k)
        name = w.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            errors.append(f"{k}.name: a name of letters, digits, '_', '.' or '-' (at most 63), got {name!r}")
        elif name in names:
            errors.append(f"{k}.name: {name!r} is used by another window")
        else:
            names.add(name)
        match = _match(w.get("match"), f"{k}.match", errors)
        weekdays = _days(w.get("weekdays"), f"{k}.weekdays", errors)
        times = _times(w.get("times"), f"{k}.times", errors)
        tz = w.get("timezone", "UTC")
        if not valid_timezone(tz):
            errors.append(f"{k}.timezone: not an IANA time zone (like Asia/Seoul or UTC), got {tz!r}")
        if len(errors) == before:
            out.append(Window(str(name), match, weekdays, times, str(tz)))
    try:
        window_routes(out)
    except TooManyRoutes as exc:
        errors.append(f"{key}: {exc}")
    return tuple(out)


def parse_maintenance(raw: Any, key: str = "maintenance") -> MaintenanceSchedule:
    """The schedule; ValueError naming every problem."""
    errors: list[str] = []
    windows = _parse(raw, key, errors)
    if errors:
        raise ValueError("; ".join(errors))
    return MaintenanceSchedule(windows)


class TooManyRoutes(ValueError):
    pass


def window_routes(windows: Sequence[Window], within: Mapping[str, str] | None = None,
                  limit: int = MAX_ROUTES) -> list[dict[str, Any]]:
    """Alertmanager child routes muting alerts by window: one route per window matching its labels and
    muted by its interval, nested so an alert that several windows match is muted by each of them
    (a route's `mute_time_intervals` is its own, not inherited). Windows that cannot match one alert
    together (`exchange: upbit` and `exchange: binance`) are not nested, and under a parent route
    that fixes labels (`within`: the severity route's severity) the windows that exclude them are
    left out. TooManyRoutes past `limit` routes (many windows that all overlap)."""
    fixed = dict(within or {})
    windows = [w for w in windows if all(fixed[k] in v for k, v in w.match.items() if k in fixed)]
    made = [0]

    def level(rest: Sequence[Window], chosen: tuple[Window, ...]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i, w in enumerate(rest):
            if not all(w.overlaps(c) for c in chosen):
                continue
            made[0] += 1
            if made[0] > limit:
                raise TooManyRoutes(f"the windows overlap so much that muting each alert by every window "
                                    f"matching it takes more than {limit} routes: give them disjoint matchers")
            here = (*chosen, w)
            route: dict[str, Any] = {"matchers": w.am_matchers(),
                                     "mute_time_intervals": [am_interval_name(x.name) for x in here]}
            children = level(rest[i + 1:], here)
            if children:
                route["routes"] = children
            out.append(route)
        return out

    return level(windows, ())
