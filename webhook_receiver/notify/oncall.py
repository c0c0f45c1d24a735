"""Who is on call: people, a rotation and overrides (pure: given the policy and a time, no I/O).

Written in the override file (`policy.oncall`), rendered by the catalog into the receiver's channel
map (`oncall:`), parsed here:

    oncall:
      people:
        alice: {telegram: "4242", email: alice@example.com}   # a Telegram user id: mentions ring her phone
        bob: {telegram: "@bob"}                               # or an @username
      rotation: {order: [alice, bob], handoff: "mon 09:00", timezone: Asia/Seoul, length: 1w,
                 start: "2026-11-30"}
      overrides:
      - {who: bob, from: "2026-12-24T00:00:00+09:00", until: "2026-12-27T00:00:00+09:00"}

The rotation hands over every `length` at the handoff's wall-clock time in its time zone: "mon
09:00" with `1w` is every Monday at 09:00 local time, whatever daylight saving does in between (a
handoff at a wall time the clock skips happens when the clock jumps past it; one the clock shows
twice happens the first time). `handoff` without a weekday ("09:00") with `1d` or `12h` hands over
daily or twice a day. The person first in `order` starts at the handoff on `start` (a date); without
`start`, the count begins at the first handoff on or after 1970-01-01 local time.

Overrides win over the rotation while they last: one taken from the phone or the API (`/oncall
take 4h`, `d76 oncall take NAME 4h`; stored by `oncall_board`, given here as `taken`) wins over one
written in the file; among several, the one that started last. `OncallPolicy.oncall_person(now)` is
what pages and escalation steps ask; `shift_at`, `timeline` are what `/oncall` and `d76 oncall` show.
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .commands import parse_duration
from .config_checks import mapping_entries, unknown_keys
from .maintenance import WEEKDAYS, valid_timezone
from .wallclock import local_instant, wall

__all__ = ["Person", "Rotation", "Override", "Shift", "OncallPolicy", "parse_oncall", "oncall_errors",
           "ONCALL_KEYS", "NOBODY"]

ONCALL_KEYS = ("people", "rotation", "overrides")
ROTATION_KEYS = ("order", "handoff", "timezone", "length", "start")
PERSON_KEYS = ("telegram", "email")
OVERRIDE_KEYS = ("who", "from", "until")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_USER_ID = re.compile(r"^[1-9][0-9]{0,19}$")
_USERNAME = re.compile(r"^@([A-Za-z][A-Za-z0-9_]{2,31})$")
_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,63}$")
_HANDOFF = re.compile(r"^(?:([A-Za-z]{3,9})\s+)?([0-9]{1,2}):([0-9]{2})$")
_DAY = {d: i for i, d in enumerate(WEEKDAYS)} | {d[:3]: i for i, d in enumerate(WEEKDAYS)}
MIN_LENGTH = timedelta(hours=1)
MAX_LENGTH = timedelta(weeks=52)
EPOCH = datetime(1970, 1, 1)
NOBODY = "nobody"
TAKEN, CONFIG, ROTATION = "taken", "override", "rotation"


@dataclass(frozen=True)
class Person:
    """Someone who can be on call. `telegram_user_id` (digits) makes a mention that rings their phone
    (`tg://user?id=`); `telegram_username` (without the @) is mentioned as @name."""

    name: str
    telegram_user_id: str | None = None
    email: str | None = None
    telegram_username: str | None = None

    def mention_html(self) -> str:
        """How a Telegram message names them so Telegram notifies them."""
        if self.telegram_user_id:
            return f'<a href="tg://user?id={self.telegram_user_id}">{html.escape(self.name)}</a>'
        if self.telegram_username:
            return "@" + html.escape(self.telegram_username)
        return html.escape(self.name)

    def is_telegram_user(self, user_id: Any, username: Any) -> bool:
        if self.telegram_user_id and str(user_id) == self.telegram_user_id:
            return True
        return bool(self.telegram_username and isinstance(username, str)
                    and username.lower() == self.telegram_username.lower())


@dataclass(frozen=True)
class Rotation:
    order: tuple[str, ...]
    length: timedelta
    minute: int                     # the handoff's minute of the day, local time
    weekday: int | None = None      # the handoff's weekday (0 = Monday); None: every `length` from `minute`
    timezone: str = "UTC"
    start: date | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def epoch(self) -> datetime:
        """The wall time of handoff 0 (where `order[0]` starts)."""
        day = self.start or EPOCH.date()
        if self.start is None and self.weekday is not None:
            day += timedelta(days=(self.weekday - day.weekday()) % 7)
        return datetime.combine(day, time(0)) + timedelta(minutes=self.minute)

    def handoff(self, k: int) -> datetime:
        """The instant (UTC) of handoff `k` (handoff 0 is at `epoch`)."""
        return local_instant(self.epoch + k * self.length, self.zone)

    def index_at(self, at: datetime) -> int:
        """The last handoff at or before `at`."""
        k = (wall(at, self.zone) - self.epoch) // self.length
        while self.handoff(k + 1) <= at:
            k += 1
        while self.handoff(k) > at:
            k -= 1
        return k

    def person_at(self, at: datetime) -> str:
        return self.order[self.index_at(at) % len(self.order)]

    def handoffs_between(self, lo: datetime, hi: datetime) -> Iterable[datetime]:
        """Handoffs in (lo, hi)."""
        k = self.index_at(lo) + 1
        while (h := self.handoff(k)) < hi:
            if h > lo:
                yield h
            k += 1

    def describe(self) -> str:
        every = _human(self.length)
        day = f"{WEEKDAYS[self.weekday]} " if self.weekday is not None else ""
        return (f"{' → '.join(self.order)}, handing over {day}{self.minute // 60:02d}:{self.minute % 60:02d} "
                f"{self.timezone}, every {every}")


@dataclass(frozen=True)
class Override:
    """`who` is on call in [start, until): from the file (`override`) or taken (`taken`, stored)."""

    who: str
    start: datetime
    until: datetime
    source: str = CONFIG
    by: str | None = None
    id: int | None = None

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.until


@dataclass(frozen=True)
class Shift:
    """Who is on call from `start` to `until` (None: beyond what was looked at), and why: `rotation`,
    `override` (the file) or `taken` (from the phone or the API); person None: nobody."""

    person: Person | None
    start: datetime | None
    until: datetime | None
    why: str

    @property
    def name(self) -> str:
        return self.person.name if self.person else NOBODY


@dataclass(frozen=True)
class OncallPolicy:
    people: Mapping[str, Person] = field(default_factory=dict)
    rotation: Rotation | None = None
    overrides: tuple[Override, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.people)

    @property
    def zone(self) -> ZoneInfo:
        return self.rotation.zone if self.rotation else ZoneInfo("UTC")

    def person(self, name: str | None) -> Person | None:
        return self.people.get(name) if name else None

    def telegram_person(self, user_id: Any, username: Any) -> Person | None:
        """The person a Telegram user is (by user id, else @username)."""
        return next((p for p in self.people.values() if p.is_telegram_user(user_id, username)), None)

    def assignment(self, at: datetime, taken: Sequence[Override] = ()) -> tuple[str | None, str]:
        """(name or None, why) at `at`."""
        covering = [o for o in (*taken, *self.overrides) if o.covers(at)]
        if covering:
            best = max(covering, key=lambda o: (o.source == TAKEN, o.start, o.id or 0))
            return best.who, best.source
        if self.rotation is not None:
            return self.rotation.person_at(at), ROTATION
        return None, NOBODY

    def oncall_person(self, now: datetime, taken: Sequence[Override] = ()) -> Person | None:
        """Who is on call at `now` (the file's overrides and `taken` considered)."""
        return self.person(self.assignment(now, taken)[0])

    def _edges(self, lo: datetime, hi: datetime, taken: Sequence[Override]) -> list[datetime]:
        edges = {lo, hi}
        if self.rotation is not None:
            edges.update(self.rotation.handoffs_between(lo, hi))
        for o in (*taken, *self.overrides):
            edges.update(t for t in (o.start, o.until) if lo < t < hi)
        return sorted(edges)

    def timeline(self, since: datetime, until: datetime, taken: Sequence[Override] = ()) -> list[Shift]:
        """Consecutive shifts covering [since, until) (the first starts at `since`, the last ends at
        `until`: cut, not their real edges)."""
        edges = self._edges(since, until, taken)
        out: list[Shift] = []
        for a, b in zip(edges, edges[1:]):
            name, why = self.assignment(a, taken)
            if out and out[-1].name == (name or NOBODY):
                out[-1] = Shift(out[-1].person, out[-1].start, b, out[-1].why)
            else:
                out.append(Shift(self.person(name), a, b, why))
        return out

    def _horizon(self) -> timedelta:
        if self.rotation is None:
            return timedelta(days=60)
        cycle = self.rotation.length * len(self.rotation.order)
        return min(max(cycle * 2, timedelta(days=14)), timedelta(days=800))

    def shift_at(self, at: datetime, taken: Sequence[Override] = ()) -> tuple[Shift, Shift | None]:
        """The shift in force at `at` with its real edges (None where it lasts beyond the horizon
        looked at), and the one after it."""
        h = self._horizon()
        lo, hi = at - h, at + h
        shifts = self.timeline(lo, hi, taken)
        i = next(n for n, s in enumerate(shifts) if s.start is not None and s.until is not None
                 and s.start <= at < s.until)
        cur = shifts[i]
        _, why = self.assignment(at, taken)
        now = Shift(cur.person, None if cur.start == lo else cur.start, None if cur.until == hi else cur.until, why)
        nxt = shifts[i + 1] if i + 1 < len(shifts) else None
        if nxt is not None and nxt.until == hi:
            nxt = Shift(nxt.person, nxt.start, None, nxt.why)
        return now, nxt

    def document(self) -> dict[str, Any]:
        """The policy as the channel map carries it (canonical strings)."""
        doc: dict[str, Any] = {"people": {n: {k: v for k, v in (
            ("telegram", p.telegram_user_id or (f"@{p.telegram_username}" if p.telegram_username else None)),
            ("email", p.email)) if v} for n, p in self.people.items()}}
        r = self.rotation
        if r is not None:
            day = f"{WEEKDAYS[r.weekday][:3]} " if r.weekday is not None else ""
            doc["rotation"] = {"order": list(r.order), "handoff": f"{day}{r.minute // 60:02d}:{r.minute % 60:02d}",
                               "timezone": r.timezone, "length": _human(r.length)}
            if r.start is not None:
                doc["rotation"]["start"] = r.start.isoformat()
        if self.overrides:
            doc["overrides"] = [{"who": o.who, "from": o.start.isoformat(), "until": o.until.isoformat()}
                                for o in self.overrides]
        return doc


def _human(d: timedelta) -> str:
    s = int(d.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


# -- parsing and checks -------------------------------------------------------------------------------
def oncall_errors(raw: Any, key: str = "oncall") -> list[str]:
    """Every problem of an `oncall` section, one line each naming its key."""
    errors: list[str] = []
    _parse(raw, key, errors)
    return errors


def parse_oncall(raw: Any, key: str = "oncall") -> OncallPolicy:
    """The policy (empty without a section); ValueError naming every problem."""
    errors: list[str] = []
    policy = _parse(raw, key, errors)
    if errors:
        raise ValueError("; ".join(errors))
    return policy


def _unknown(d: Mapping[Any, Any], allowed: Sequence[str], key: str) -> list[str]:
    return unknown_keys(d, sorted(allowed), key)


def _parse(raw: Any, key: str, errors: list[str]) -> OncallPolicy:
    if raw is None:
        return OncallPolicy()
    if not isinstance(raw, dict):
        errors.append(f"{key}: expected a mapping with people, rotation, overrides, got {type(raw).__name__}")
        return OncallPolicy()
    errors += _unknown(raw, ONCALL_KEYS, key)
    people = _people(raw.get("people"), f"{key}.people", errors)
    rotation = _rotation(raw.get("rotation"), f"{key}.rotation", people, errors)
    zone = rotation.zone if rotation is not None else ZoneInfo("UTC")
    overrides = _overrides(raw.get("overrides"), f"{key}.overrides", people, zone, errors)
    return OncallPolicy(people, rotation, overrides)


def _people(raw: Any, key: str, errors: list[str]) -> dict[str, Person]:
    if not isinstance(raw, dict) or not raw:
        errors.append(f"{key}: a non-empty mapping of name: {{telegram: user id or @name, email: ...}}")
        return {}
    out: dict[str, Person] = {}
    for name, spec in raw.items():
        k = f"{key}.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            errors.append(f"{k}: a name of letters, digits, '_', '.' or '-' (at most 64)")
            continue
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            errors.append(f"{k}: expected a mapping like {{telegram: \"4242\", email: {name}@example.com}}")
            continue
        errors += _unknown(spec, PERSON_KEYS, k)
        tg = spec.get("telegram")
        user_id = username = None
        if tg is not None:
            text = str(tg) if isinstance(tg, (str, int)) and not isinstance(tg, bool) else ""
            if _USER_ID.match(text):
                user_id = text
            elif (m := _USERNAME.match(text)) is not None:
                username = m.group(1)
            else:
                errors.append(f"{k}.telegram: a Telegram user id (digits, like \"4242\") or an @username, got {tg!r}")
        email = spec.get("email")
        if email is not None and (not isinstance(email, str) or not _EMAIL.match(email)):
            errors.append(f"{k}.email: an email address, got {email!r}")
            email = None
        out[name] = Person(name, user_id, email, username)
    return out


def _handoff(raw: Any, key: str, errors: list[str]) -> tuple[int | None, int] | None:
    m = _HANDOFF.match(raw.strip()) if isinstance(raw, str) else None
    day = m.group(1).lower() if m and m.group(1) else None
    if not m or (day is not None and day not in _DAY) or int(m.group(2)) > 23 or int(m.group(3)) > 59:
        errors.append(f"{key}: a weekday and a time like \"mon 09:00\", or a time like \"09:00\", got {raw!r}")
        return None
    return (_DAY[day] if day else None), int(m.group(2)) * 60 + int(m.group(3))


def _start(raw: Any, key: str, errors: list[str]) -> date | None:
    if raw is None:
        return None
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    try:
        if isinstance(raw, str) and len(raw) == 10:
            return date.fromisoformat(raw)
    except ValueError:
        pass
    errors.append(f"{key}: a date like \"2026-11-30\" (the day of a handoff where the first in order starts), "
                  f"got {raw!r}")
    return None


def _rotation(raw: Any, key: str, people: Mapping[str, Person], errors: list[str]) -> Rotation | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        errors.append(f"{key}: expected a mapping with {', '.join(ROTATION_KEYS)}")
        return None
    before = len(errors)
    errors += _unknown(raw, ROTATION_KEYS, key)
    order = raw.get("order")
    if not isinstance(order, list) or not order or not all(isinstance(n, str) for n in order):
        errors.append(f"{key}.order: a non-empty list of people's names")
        order = []
    elif people:
        errors += [f"{key}.order[{n}]: {name!r} is not in people ({', '.join(people)})"
                   for n, name in enumerate(order) if name not in people]
    handoff = _handoff(raw.get("handoff"), f"{key}.handoff", errors)
    tz = raw.get("timezone", "UTC")
    if not valid_timezone(tz):
        errors.append(f"{key}.timezone: not an IANA time zone (like Asia/Seoul or UTC), got {tz!r}")
    length_text = raw.get("length")
    length = parse_duration(length_text) if isinstance(length_text, str) else None
    if length is None:
        errors.append(f"{key}.length: a duration like 1w, 1d or 12h, got {raw.get('length')!r}")
    elif not MIN_LENGTH <= length <= MAX_LENGTH or length.total_seconds() % 60:
        errors.append(f"{key}.length: between 1h and 52w in whole minutes, got {raw.get('length')!r}")
    elif handoff is not None and handoff[0] is not None and length.total_seconds() % (7 * 86400):
        errors.append(f"{key}.length: the handoff names a weekday, so a whole number of weeks (1w, 2w); "
                      f"for daily shifts write the handoff without a weekday (\"09:00\"), got {raw.get('length')!r}")
    start = _start(raw.get("start"), f"{key}.start", errors)
    if start is not None and handoff is not None and handoff[0] is not None and start.weekday() != handoff[0]:
        errors.append(f"{key}.start: {start.isoformat()} is a {WEEKDAYS[start.weekday()]}, the handoff is on "
                      f"{WEEKDAYS[handoff[0]]}s")
    if len(errors) != before or handoff is None or length is None:
        return None
    return Rotation(tuple(order), length, handoff[1], handoff[0], str(tz), start)


def parse_time(raw: Any, zone: ZoneInfo) -> datetime | None:
    """An RFC 3339 time (a YAML timestamp too); one without an offset is in `zone`. UTC out."""
    if isinstance(raw, datetime):
        dt = raw
    elif isinstance(raw, str) and 10 <= len(raw) <= 40:
        try:
            dt = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if dt.tzinfo is None:
        return local_instant(dt, zone)
    return dt.astimezone(UTC)


def _overrides(raw: Any, key: str, people: Mapping[str, Person], zone: ZoneInfo,
               errors: list[str]) -> tuple[Override, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        errors.append(f"{key}: expected a list of {{who, from, until}}")
        return ()
    out = []
    for k, o in mapping_entries(raw, key, "expected a mapping {who, from, until}", errors, name_type=False):
        before = len(errors)
        errors += unknown_keys(o, sorted(OVERRIDE_KEYS), k)
        who = o.get("who")
        if not isinstance(who, str) or (people and who not in people):
            errors.append(f"{k}.who: one of the people ({', '.join(people)}), got {who!r}")
        start, until = parse_time(o.get("from"), zone), parse_time(o.get("until"), zone)
        for name, value, parsed in (("from", o.get("from"), start), ("until", o.get("until"), until)):
            if parsed is None:
                errors.append(f"{k}.{name}: a time like \"2026-12-24T00:00:00+09:00\", got {value!r}")
        if start is not None and until is not None and until <= start:
            errors.append(f"{k}.until: must be later than from")
        if len(errors) == before and start is not None and until is not None:
            out.append(Override(str(who), start, until))
    return tuple(out)
