"""Who is on call, with the overrides taken from the phone or the API (`/oncall take 4h`, `d76 oncall
take NAME 4h`, `POST /api/oncall/take`): the policy of the channel map (`notify.oncall`, pure) plus
the rows of `oncall_overrides`, which win over the rotation and the file's overrides until they end.

Several receivers on one database see the same rows; each reads them at most every `CACHE_SECONDS`
(a take on one replica is seen by the other within that), and at once after its own take.
`OncallBoard.oncall_person(now)` is what pages and escalation steps ask.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..store.base import AlertStore
from .oncall import TAKEN, OncallPolicy, Override, Person, Shift

__all__ = ["OncallBoard", "UnknownPerson", "MAX_TAKE", "MIN_TAKE", "Oncall"]

log = logging.getLogger("d76.notify.oncall")

CACHE_SECONDS = 2.0
LOOKBACK = timedelta(days=60)  # taken overrides read back (the edges of the shift in force)
MIN_TAKE = timedelta(minutes=1)
MAX_TAKE = timedelta(days=30)


class UnknownPerson(LookupError):
    """Not one of the people of `policy.oncall` (the text says who is)."""


@dataclass(frozen=True)
class Oncall:
    """What `/oncall` and `d76 oncall` show: now, next, the days ahead."""

    now: Shift
    next: Shift | None
    ahead: list[Shift]
    policy: OncallPolicy


class OncallBoard:
    def __init__(self, store: AlertStore, policy: OncallPolicy,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Override]] | None = None
        self._warned = float("-inf")

    def __bool__(self) -> bool:
        return bool(self.policy)

    def taken(self, now: datetime) -> list[Override]:
        """Overrides taken (stored) that end after `now - LOOKBACK`, of people the policy knows."""
        with self._lock:
            if self._cached is not None and self.clock() - self._cached[0] < CACHE_SECONDS:
                return self._cached[1]
        d = self.store.dialect
        with self.store.transaction(write=False) as tx:
            rows = tx.fetchall("SELECT id, person, starts_at, ends_at, created_by FROM oncall_overrides "
                               "WHERE ends_at > %s ORDER BY id DESC LIMIT 500", (d.time_in(now - LOOKBACK),))
        out = []
        for r in rows:
            start, end = d.time_out(r["starts_at"]), d.time_out(r["ends_at"])
            if r["person"] in self.policy.people and start is not None and end is not None:
                out.append(Override(str(r["person"]), start, end, TAKEN, by=r["created_by"], id=int(r["id"])))
        with self._lock:
            self._cached = (self.clock(), out)
        return out

    def oncall_person(self, now: datetime) -> Person | None:
        """Who is on call at `now` (None: no policy, or nobody then). Never raises: with the database
        unreachable the overrides last read are used (a page must not wait on this)."""
        if not self.policy:
            return None
        try:
            taken = self.taken(now)
        except Exception as exc:
            with self._lock:
                taken = self._cached[1] if self._cached is not None else []
            if self.clock() - self._warned > 60:
                self._warned = self.clock()
                log.warning("on-call overrides unreadable; using the last read", extra={"fields": {
                    "error": str(exc)[:200]}})
        return self.policy.oncall_person(now, taken)

    def show(self, now: datetime, days: int = 7) -> Oncall:
        taken = self.taken(now)
        current, nxt = self.policy.shift_at(now, taken)
        ahead = self.policy.timeline(now, now + timedelta(days=days), taken)
        return Oncall(current, nxt, ahead, self.policy)

    def person_named(self, name: str) -> Person:
        found = self.policy.people.get(name) or next(
            (p for n, p in self.policy.people.items() if n.lower() == name.lower()), None)
        if found is None:
            known = ", ".join(self.policy.people) or "none: policy.oncall.people is empty"
            raise UnknownPerson(f"{name!r} is not one of the people on call ({known})")
        return found

    def take(self, person: Person, duration: timedelta, by: str, now: datetime) -> Override:
        """`person` is on call from `now` for `duration` (stored: it outlives a restart and is seen by
        every replica), winning over the rotation and the file's overrides."""
        if not MIN_TAKE <= duration <= MAX_TAKE:
            raise ValueError(f"between {MIN_TAKE.seconds // 60}m and {MAX_TAKE.days}d")
        d = self.store.dialect
        until = now + duration
        with self.store.transaction() as tx:
            row = tx.fetchone("INSERT INTO oncall_overrides (person, starts_at, ends_at, created_by, created_at) "
                              "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                              (person.name, d.time_in(now), d.time_in(until), by[:200], d.time_in(tx.now)))
        with self._lock:
            self._cached = None
        assert row is not None
        log.info("on call taken", extra={"fields": {"person": person.name, "until": until.isoformat(), "by": by}})
        return Override(person.name, now, until, TAKEN, by=by, id=int(row["id"]))
