"""Recurring maintenance windows: Alertmanager's rule for "in the window" (weekday and minute of the
day in the window's zone, end exclusive), exact occurrences across daylight-saving changes, the
nested routes that mute an alert several windows match by each of them, and the checks of the
`maintenance` section."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.config_docs import documents, parses_or_names_its_errors
from webhook_receiver.notify.maintenance import (
    WEEKDAYS,
    MaintenanceSchedule,
    Window,
    maintenance_errors,
    parse_maintenance,
    window_routes,
)
from webhook_receiver.notify.wallclock import wall

ZONES = ["UTC", "Asia/Seoul", "America/New_York", "Europe/Berlin", "Europe/Dublin", "Australia/Lord_Howe",
         "America/Santiago", "Pacific/Chatham"]
SLOW = settings(max_examples=150, deadline=None, derandomize=True)


@st.composite
def windows(draw: st.DrawFn) -> Window:
    days = tuple(sorted(set(draw(st.lists(st.integers(0, 6), max_size=4)))))
    edges = st.one_of(st.sampled_from([0, 60, 90, 120, 150, 180, 1380, 1440]), st.integers(0, 1440))
    ranges = []
    for _ in range(draw(st.integers(0, 3))):
        a, b = sorted((draw(edges), draw(edges)))
        if a < b:
            ranges.append((a, b))
    return Window("w", {"exchange": ("upbit",)}, days, tuple(sorted(ranges)), draw(st.sampled_from(ZONES)))


def instants() -> st.SearchStrategy[datetime]:
    return st.datetimes(datetime(2024, 1, 1), datetime(2028, 1, 1)).map(lambda d: d.replace(tzinfo=UTC))


@SLOW
@given(windows(), instants())
def test_in_the_window_is_alertmanagers_rule(w: Window, at: datetime) -> None:
    local = wall(at, w.zone)
    minute = local.hour * 60 + local.minute
    expected = (not w.weekdays or local.weekday() in w.weekdays) and (
        not w.times or any(s <= minute < e for s, e in w.times))
    assert w.active_at(at) == expected


@SLOW
@given(windows(), instants())
def test_the_next_occurrence_is_exact(w: Window, at: datetime) -> None:
    occ = w.next_occurrence(at)
    if occ is None:  # nothing within eight days: the window never opens in them
        assert not any(w.active_at(at + timedelta(minutes=m)) for m in range(0, 8 * 1440, 7))
        return
    start, end = occ
    assert start < end and end > at
    if w.active_at(at):
        assert start <= at
    else:
        assert start > at
        # closed from now until it opens (probed every few minutes and just before it)
        probes = [at + (start - at) * f / 50 for f in range(50)] + [start - timedelta(seconds=1)]
        assert not any(w.active_at(p) for p in probes if p < start)
    assert w.active_at(start) and w.active_at(end - timedelta(seconds=1))
    inside = [start + (end - start) * f / 40 for f in range(40)]
    assert all(w.active_at(p) for p in inside)
    if end - start < timedelta(days=8):  # not cut at the end of the days looked at
        assert not w.active_at(end)


def test_daylight_saving_days() -> None:
    ny = parse_maintenance([{"name": "n", "match": {"exchange": "upbit"}, "weekdays": ["sunday"],
                             "times": ["01:00-01:30"], "timezone": "America/New_York"}]).windows[0]
    autumn = datetime(2026, 10, 31, tzinfo=UTC)  # Sunday 1 November: 01:00-02:00 happens twice
    assert list(ny.occurrences(autumn, 2)) == [
        (datetime(2026, 11, 1, 5, 0, tzinfo=UTC), datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
        (datetime(2026, 11, 1, 6, 0, tzinfo=UTC), datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
    ]
    spring = parse_maintenance([{"name": "s", "match": {"exchange": "upbit"}, "weekdays": ["sunday"],
                                 "times": ["02:00-02:30"], "timezone": "America/New_York"}]).windows[0]
    # 8 March 2026 has no 02:00-03:00: that Sunday's window does not happen
    assert spring.next_occurrence(datetime(2026, 3, 7, tzinfo=UTC))[0] == datetime(2026, 3, 15, 6, 0, tzinfo=UTC)


def test_the_example_of_the_issue() -> None:
    s = parse_maintenance([{"name": "upbit-weekly", "match": {"exchange": "upbit"}, "weekdays": ["thursday"],
                            "times": ["10:00-10:30"], "timezone": "Asia/Seoul"}])
    w = s.windows[0]
    thursday = datetime(2026, 12, 3, 1, 10, tzinfo=UTC)  # 10:10 in Seoul
    assert s.muted_by({"alertname": "ExchangeFrozen", "exchange": "upbit"}, thursday) == ["upbit-weekly"]
    assert s.muted_by({"alertname": "ExchangeFrozen", "exchange": "binance"}, thursday) == []
    assert s.muted_by({"alertname": "Watchdog", "exchange": "upbit"}, thursday) == []  # the heartbeat never is
    assert s.muted_by({"exchange": "upbit"}, thursday + timedelta(minutes=20)) == []  # 10:30: over
    assert w.next_occurrence(thursday + timedelta(minutes=20))[0] == datetime(2026, 12, 10, 1, 0, tzinfo=UTC)
    assert w.time_interval() == {"name": "d76-upbit-weekly", "time_intervals": [{
        "weekdays": ["thursday"], "times": [{"start_time": "10:00", "end_time": "10:30"}], "location": "Asia/Seoul"}]}
    assert w.am_matchers() == ['exchange="upbit"'] and w.describe() == "thu 10:00-10:30 Asia/Seoul"


def test_weekday_ranges_and_lists_of_values() -> None:
    w = parse_maintenance([{"name": "x", "match": {"exchange": ["upbit", "a.b"]},
                            "weekdays": ["fri:mon", "wed"]}]).windows[0]
    assert [WEEKDAYS[d] for d in w.weekdays] == ["monday", "wednesday", "friday", "saturday", "sunday"]
    assert w.am_matchers() == ['exchange=~"upbit|a\\.b"']
    assert w.matches({"exchange": "a.b"}) and not w.matches({"exchange": "aXb"})


def _routes_for(labels: dict[str, str], routes: list[dict]) -> list[str]:
    """The mute intervals of the route Alertmanager picks (first matching child, depth first)."""
    def ok(r: dict) -> bool:
        for m in r["matchers"]:
            name, _, value = m.partition("=")
            value = value.strip('"')
            if value.startswith('~"'):
                import re
                if not re.fullmatch(value[2:], labels.get(name, "")):
                    return False
            elif labels.get(name, "") != value:
                return False
        return True
    picked: list[str] = []
    level = routes
    while True:
        hit = next((r for r in level if ok(r)), None)
        if hit is None:
            return picked
        picked = hit["mute_time_intervals"]
        level = hit.get("routes", [])


@given(st.lists(st.tuples(st.sampled_from(["exchange", "severity", "symbol"]), st.sampled_from(["a", "b", "c"])),
                min_size=1, max_size=5),
       st.fixed_dictionaries({"exchange": st.sampled_from(["a", "b", "c"]), "severity": st.sampled_from(["a", "b"]),
                              "symbol": st.sampled_from(["a", "c"])}))
@settings(max_examples=200, deadline=None, derandomize=True)
def test_an_alert_several_windows_match_is_muted_by_each(specs: list[tuple[str, str]], labels: dict[str, str]) -> None:
    ws = [Window(f"w{i}", {k: (v,)}) for i, (k, v) in enumerate(specs)]
    expected = [f"d76-w{i}" for i, w in enumerate(ws) if w.matches(labels)]
    assert _routes_for(labels, window_routes(ws)) == expected


def test_disjoint_windows_are_not_nested() -> None:
    ws = [Window(f"w{i}", {"exchange": (e,)}) for i, e in enumerate(["upbit", "binance", "okx", "bybit"])]
    routes = window_routes(ws)
    assert len(routes) == 4 and not any("routes" in r for r in routes)


def test_every_problem_is_named_by_its_key() -> None:
    assert maintenance_errors([
        {"name": "x y", "match": {}, "weekdays": ["funday"], "times": ["10:30-10:00", "25:00-26:00", "9-10"],
         "timezone": "Mars/Base", "repeat": 1},
        {"name": "ok", "match": {"exchange": "upbit", "bad label": "x", "symbol": ""}},
        {"name": "ok", "match": {"exchange": "upbit"}, "weekdays": []},
    ], "policy.maintenance") == [
        "policy.maintenance[0].repeat: unknown key (allowed here: match, name, times, timezone, weekdays)",
        "policy.maintenance[0].name: a name of letters, digits, '_', '.' or '-' (at most 63), got 'x y'",
        "policy.maintenance[0].match: a non-empty mapping of label: value (or label: [value, ...]), "
        "e.g. {exchange: upbit}",
        "policy.maintenance[0].weekdays[0]: not a weekday (monday..sunday, mon..sun, or a range like "
        "monday:friday), got 'funday'",
        "policy.maintenance[0].times[0]: '10:30-10:00' ends before it starts (a window past midnight is two "
        "ranges on two days: \"22:00-24:00\" and \"00:00-02:00\")",
        "policy.maintenance[0].times[1]: '25:00-26:00' is not a time of day (00:00 to 24:00)",
        "policy.maintenance[0].times[2]: a range HH:MM-HH:MM like \"10:00-10:30\", got '9-10'",
        "policy.maintenance[0].timezone: not an IANA time zone (like Asia/Seoul or UTC), got 'Mars/Base'",
        "policy.maintenance[1].match.bad label: not a label name",
        "policy.maintenance[1].match.symbol: a non-empty string (or a list of them) without quotes, backslashes "
        "or newlines, got ''",
        "policy.maintenance[2].name: 'ok' is used by another window",
        "policy.maintenance[2].weekdays: a non-empty list of weekdays (monday..sunday, or a range like monday:friday)",
    ]
    assert maintenance_errors({"name": "x"}, "m") == ["m: expected a list of windows, got dict"]
    assert not MaintenanceSchedule() and parse_maintenance(None) == MaintenanceSchedule()


@given(documents(["name", "match", "weekdays", "times", "timezone", "exchange"]))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_any_document_is_a_schedule_or_a_list_of_errors(doc: object) -> None:
    parses_or_names_its_errors(doc, "maintenance", maintenance_errors, parse_maintenance)
