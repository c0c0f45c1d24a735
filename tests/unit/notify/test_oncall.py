"""On-call rotation arithmetic: handoffs at the wall-clock time across daylight-saving changes, who is
on call (against a brute-force count), overrides (taken wins over the file's, the latest start
wins), contiguous timelines, and the checks of the `oncall` section (every problem naming its key)."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.config_docs import documents, parses_or_names_its_errors
from webhook_receiver.notify.oncall import (
    CONFIG,
    TAKEN,
    OncallPolicy,
    Override,
    Person,
    Rotation,
    oncall_errors,
    parse_oncall,
)
from webhook_receiver.notify.wallclock import local_instant, wall

# zones with the awkward cases: none, +-1h, 30 min (Lord Howe), negative DST (Dublin), southern
# hemisphere (Santiago), :45 offsets (Chatham), :30 offsets (St John's)
ZONES = ["UTC", "Asia/Seoul", "America/New_York", "Europe/Berlin", "Europe/Dublin", "Australia/Lord_Howe",
         "America/Santiago", "Pacific/Chatham", "America/St_Johns"]
PEOPLE = ("alice", "bob", "carol")
EXAMPLE = {
    "people": {"alice": {"telegram": "4242", "email": "alice@example.com"}, "bob": {"telegram": "@bob"}},
    "rotation": {"order": ["alice", "bob"], "handoff": "mon 09:00", "timezone": "Asia/Seoul", "length": "1w",
                 "start": "2026-11-30"},
    "overrides": [{"who": "bob", "from": "2026-12-24T00:00:00+09:00", "until": "2026-12-27T00:00:00+09:00"}],
}
SLOW = settings(max_examples=150, deadline=None, derandomize=True)


@st.composite
def rotations(draw: st.DrawFn) -> Rotation:
    weekly = draw(st.booleans())
    # handoffs at the hours daylight saving moves (01:00-03:00), midnight, and anywhere
    minute = draw(st.one_of(st.sampled_from([0, 60, 90, 120, 150, 180, 1410]), st.integers(0, 1439)))
    if weekly:
        length = timedelta(weeks=draw(st.integers(1, 3)))
        weekday: int | None = draw(st.integers(0, 6))
    else:
        length = timedelta(minutes=draw(st.one_of(st.sampled_from([60, 720, 1440, 2880]), st.integers(60, 4320))))
        weekday = None
    start = draw(st.dates(date(2024, 1, 1), date(2027, 12, 31)))
    if weekday is not None:
        start += timedelta(days=(weekday - start.weekday()) % 7)
    order = tuple(draw(st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=4)))
    return Rotation(order, length, minute, weekday, draw(st.sampled_from(ZONES)), start)


def _exists(naive: datetime, zone: ZoneInfo) -> bool:
    return wall(local_instant(naive, zone), zone) == naive


@SLOW
@given(rotations(), st.integers(0, 400))
def test_handoffs_keep_the_wall_clock_time_and_stay_in_order(r: Rotation, k: int) -> None:
    h0, h1 = r.handoff(k), r.handoff(k + 1)
    assert h0 <= h1
    naive = r.epoch + k * r.length
    shown = wall(h0, r.zone)
    if _exists(naive, r.zone):
        assert shown == naive  # 09:00 stays 09:00 whatever daylight saving did in between
        if r.weekday is not None:
            assert (shown.weekday(), shown.hour * 60 + shown.minute) == (r.weekday, r.minute)
    else:  # the clock skipped it: the handoff is when it jumps past that time
        assert shown > naive and wall(h0 - timedelta(seconds=1), r.zone) < naive


@SLOW
@given(rotations(), st.floats(0, 1))
def test_who_is_on_call_is_the_count_of_handoffs_so_far(r: Rotation, frac: float) -> None:
    span = min(r.length * 60, timedelta(days=120))
    at = r.handoff(0) + span * frac
    k = r.index_at(at)
    assert r.handoff(k) <= at < r.handoff(k + 1)
    # brute force: walk the handoffs from the first one
    count, n = 0, 1
    while r.handoff(n) <= at:
        count, n = n, n + 1
    assert k == count
    assert r.person_at(at) == r.order[count % len(r.order)]


@st.composite
def policies(draw: st.DrawFn) -> tuple[OncallPolicy, list[Override], datetime]:
    r = draw(rotations())
    base = r.handoff(0)
    people = {n: Person(n) for n in PEOPLE}

    def override(source: str, i: int) -> Override:
        start = base + timedelta(minutes=draw(st.integers(0, 60 * 24 * 40)))
        length = timedelta(minutes=draw(st.integers(1, 60 * 24 * 9)))
        return Override(draw(st.sampled_from(PEOPLE)), start, start + length, source, id=i)

    config = tuple(override(CONFIG, i) for i in range(draw(st.integers(0, 3))))
    taken = [override(TAKEN, 100 + i) for i in range(draw(st.integers(0, 3)))]
    at = base + timedelta(minutes=draw(st.integers(0, 60 * 24 * 45)))
    rotation = r if draw(st.booleans()) or not (config or taken) else None
    return OncallPolicy(people, rotation, config), taken, at


@SLOW
@given(policies())
def test_overrides_win_taken_first_then_the_latest_start(case: tuple[OncallPolicy, list[Override], datetime]) -> None:
    policy, taken, at = case
    name, why = policy.assignment(at, taken)
    covering_taken = [o for o in taken if o.covers(at)]
    covering_file = [o for o in policy.overrides if o.covers(at)]
    if covering_taken:
        assert why == TAKEN and name == max(covering_taken, key=lambda o: (o.start, o.id or 0)).who
    elif covering_file:
        assert why == CONFIG and name == max(covering_file, key=lambda o: (o.start, o.id or 0)).who
    elif policy.rotation is not None:
        assert (name, why) == (policy.rotation.person_at(at), "rotation")
    else:
        assert name is None
    assert policy.oncall_person(at, taken) == (policy.people[name] if name else None)


@SLOW
@given(policies(), st.integers(1, 60 * 24 * 10))
def test_a_timeline_is_contiguous_and_each_shift_is_who_is_on_call(case: tuple[OncallPolicy, list[Override], datetime],
                                                                  minutes: int) -> None:
    policy, taken, at = case
    until = at + timedelta(minutes=minutes)
    shifts = policy.timeline(at, until, taken)
    assert shifts[0].start == at and shifts[-1].until == until
    for a, b in zip(shifts, shifts[1:]):
        assert a.until == b.start and a.name != b.name
    for s in shifts:
        assert s.start is not None and s.until is not None and s.start < s.until
        for probe in (s.start, s.start + (s.until - s.start) / 2, s.until - timedelta(microseconds=1)):
            assert (policy.assignment(probe, taken)[0] or "nobody") == s.name


@SLOW
@given(policies())
def test_now_and_next_meet_at_the_handover(case: tuple[OncallPolicy, list[Override], datetime]) -> None:
    policy, taken, at = case
    now, nxt = policy.shift_at(at, taken)
    assert now.name == (policy.assignment(at, taken)[0] or "nobody")
    assert now.start is None or now.start <= at
    if now.until is not None:
        assert at < now.until
        assert nxt is not None and nxt.start == now.until and nxt.name != now.name
        assert (policy.assignment(now.until, taken)[0] or "nobody") == nxt.name
    if now.start is not None:
        assert (policy.assignment(now.start - timedelta(microseconds=1), taken)[0] or "nobody") != now.name


def test_the_example_of_the_issue() -> None:
    p = parse_oncall(EXAMPLE)
    monday = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 09:00 in Seoul
    assert p.oncall_person(monday - timedelta(seconds=1)).name == "bob"
    assert p.oncall_person(monday).name == "alice"
    assert p.oncall_person(monday + timedelta(weeks=1)).name == "bob"
    alice_week = datetime(2026, 12, 14, 1, tzinfo=UTC)
    assert p.oncall_person(alice_week).name == "alice"
    christmas = datetime(2026, 12, 24, 3, tzinfo=UTC)  # bob's own week anyway; the override changes nothing
    assert p.oncall_person(christmas).name == "bob"
    alice, bob = p.people["alice"], p.people["bob"]
    assert (alice.telegram_user_id, alice.email, bob.telegram_username) == ("4242", "alice@example.com", "bob")
    assert alice.mention_html() == '<a href="tg://user?id=4242">alice</a>' and bob.mention_html() == "@bob"
    assert p.telegram_person(4242, None) is alice and p.telegram_person(1, "BOB") is bob
    assert parse_oncall(p.document()) == p  # what the channel map carries reads back the same


def test_an_override_in_the_file_and_one_taken_from_the_phone() -> None:
    doc = {**EXAMPLE, "overrides": [{"who": "bob", "from": "2026-12-15T00:00:00+09:00",
                                     "until": "2026-12-16T00:00:00+09:00"}]}
    p = parse_oncall(doc)
    at = datetime(2026, 12, 15, 3, tzinfo=UTC)  # alice's week
    assert p.assignment(at) == ("bob", CONFIG)
    taken = [Override("alice", at - timedelta(hours=1), at + timedelta(hours=3), TAKEN, by="telegram:alice", id=1)]
    assert p.assignment(at, taken) == ("alice", TAKEN)
    now, nxt = p.shift_at(at, taken)
    assert (now.name, now.why, now.until) == ("alice", TAKEN, at + timedelta(hours=3))
    assert nxt is not None and (nxt.name, nxt.until) == ("bob", datetime(2026, 12, 15, 15, tzinfo=UTC))


def test_daylight_saving_moves_the_instant_not_the_wall_time() -> None:
    p = parse_oncall({"people": {"a": {}, "b": {}}, "rotation": {
        "order": ["a", "b"], "handoff": "02:30", "timezone": "America/New_York", "length": "1d",
        "start": "2026-03-01"}})
    r = p.rotation
    assert r is not None
    assert [r.handoff(k).isoformat() for k in (6, 7, 8)] == [
        "2026-03-07T07:30:00+00:00",  # 02:30 EST
        "2026-03-08T07:00:00+00:00",  # 02:30 does not exist that night: 03:00 EDT, when the clock jumps
        "2026-03-09T06:30:00+00:00",  # 02:30 EDT
    ]


def test_one_person_and_no_rotation() -> None:
    p = parse_oncall({"people": {"solo": {"telegram": "7"}}, "rotation": {
        "order": ["solo"], "handoff": "09:00", "length": "1d"}})
    now, nxt = p.shift_at(datetime(2026, 1, 1, tzinfo=UTC))
    assert (now.name, now.start, now.until, nxt) == ("solo", None, None, None)
    empty = parse_oncall({"people": {"x": {}}})
    assert empty.oncall_person(datetime(2026, 1, 1, tzinfo=UTC)) is None
    assert not parse_oncall(None)


def test_every_problem_is_named_by_its_key() -> None:
    errors = oncall_errors({
        "people": {"a b": {}, "c": {"telegram": "x", "email": "no", "pager": 1}},
        "rotation": {"order": ["c", "d"], "handoff": "mon 9am", "length": "3d", "timezone": "Mars/Base", "x": 1},
        "overrides": [{"who": "q", "from": "soon", "until": None}, {"who": "c", "from": "2026-01-02T00:00:00Z",
                                                                   "until": "2026-01-01T00:00:00Z"}],
        "extra": True}, "policy.oncall")
    assert errors == [
        "policy.oncall.extra: unknown key (allowed here: overrides, people, rotation)",
        "policy.oncall.people.a b: a name of letters, digits, '_', '.' or '-' (at most 64)",
        "policy.oncall.people.c.pager: unknown key (allowed here: email, telegram)",
        "policy.oncall.people.c.telegram: a Telegram user id (digits, like \"4242\") or an @username, got 'x'",
        "policy.oncall.people.c.email: an email address, got 'no'",
        "policy.oncall.rotation.x: unknown key (allowed here: handoff, length, order, start, timezone)",
        "policy.oncall.rotation.order[1]: 'd' is not in people (c)",
        "policy.oncall.rotation.handoff: a weekday and a time like \"mon 09:00\", or a time like \"09:00\", "
        "got 'mon 9am'",
        "policy.oncall.rotation.timezone: not an IANA time zone (like Asia/Seoul or UTC), got 'Mars/Base'",
        "policy.oncall.overrides[0].who: one of the people (c), got 'q'",
        "policy.oncall.overrides[0].from: a time like \"2026-12-24T00:00:00+09:00\", got 'soon'",
        "policy.oncall.overrides[0].until: a time like \"2026-12-24T00:00:00+09:00\", got None",
        "policy.oncall.overrides[1].until: must be later than from",
    ]
    weekly = {"people": {"a": {}}, "rotation": {"order": ["a"], "handoff": "mon 09:00", "length": "3d"}}
    assert oncall_errors(weekly, "k") == [
        "k.rotation.length: the handoff names a weekday, so a whole number of weeks (1w, 2w); "
        "for daily shifts write the handoff without a weekday (\"09:00\"), got '3d'"]
    assert oncall_errors({"people": {"a": {}}, "rotation": {"order": ["a"], "handoff": "mon 09:00", "length": "1w",
                                                            "start": "2026-12-01"}}, "k") == [
        "k.rotation.start: 2026-12-01 is a tuesday, the handoff is on mondays"]
    assert oncall_errors({"people": {"a": {}}, "rotation": {"order": ["a"], "handoff": "09:00", "length": "30m"}},
                         "k") == ["k.rotation.length: between 1h and 52w in whole minutes, got '30m'"]
    assert oncall_errors([], "k") == ["k: expected a mapping with people, rotation, overrides, got list"]


@given(documents(["people", "rotation", "overrides", "order", "handoff", "length", "who", "from", "until",
                  "telegram", "alice", "timezone", "start"]))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_any_document_is_a_policy_or_a_list_of_errors(doc: object) -> None:
    parses_or_names_its_errors(doc, "oncall", oncall_errors, parse_oncall)
