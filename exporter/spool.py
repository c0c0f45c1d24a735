"""The durable event spool: what `exporter.events.send_alert` wrote and Alertmanager has not yet taken.

`EventSpool` is one SQLite file (`D76_EVENT_SPOOL`, default `d76-events.sqlite3` in the bot's data
directory). `put` is the bot's whole cost of an event: one short write transaction, no network. WAL
journal with `synchronous=NORMAL`: a committed event survives the process being killed (the write
is in the OS before `put` returns); a power cut may lose the last commits, which fsync per event
(`synchronous=FULL`) would prevent at a few milliseconds each.

The spool is bounded (`max_events`, default 10,000): past it the oldest event of the least severe
level present is dropped (the P3s first, oldest first; a P0 only when everything waiting is a P0),
and the caller counts it.

`SpoolSender` is the one thread per process and spool file that delivers: it takes an exclusive
`flock` on `<spool>.lock` (the kernel releases it when the holder dies, so the next process takes
over at once; a second live process leaves the sending to the first), then posts the oldest events
to Alertmanager in order, in batches of consecutive events for the same Alertmanager(s), and
removes them once one Alertmanager accepted them. A failure waits (0.5 s doubling to 30 s) before
the next try; no busy loop. An event whose batch was posted but not yet removed when the process
died is posted again by the next one: Alertmanager takes an alert with the same labels and start
as the same alert, and the receiver stores it once.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vocabulary import severity_rank

__all__ = ["EventSpool", "SpooledEvent", "SpoolSender", "PostOutcome", "DEFAULT_SPOOL_NAME", "DEFAULT_MAX_EVENTS",
           "sender_for"]

log = logging.getLogger("d76.events")

DEFAULT_SPOOL_NAME = "d76-events.sqlite3"
DEFAULT_MAX_EVENTS = 10_000
BATCH = 100
# an event delivered late (Alertmanager was down) stays visible at least this long, or its ttl if
# shorter: Alertmanager does not notify an alert that arrives already ended
LATE_VISIBILITY = timedelta(minutes=5)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    severity  TEXT NOT NULL,
    rank      INTEGER NOT NULL,
    target    TEXT NOT NULL,
    ttl       REAL NOT NULL,
    alert     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_drop ON events (rank DESC, id);
"""


@dataclass(frozen=True)
class SpooledEvent:
    id: int
    severity: str
    target: str                  # the Alertmanager URL(s), comma-separated
    ttl: float                   # seconds
    alert: dict[str, Any]        # the postableAlert (endsAt is set when it is posted)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=5.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


class EventSpool:
    """One spool file; safe to share between threads (one connection behind a lock) and processes
    (SQLite's own locking)."""

    def __init__(self, path: str | os.PathLike[str], max_events: int = DEFAULT_MAX_EVENTS) -> None:
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_events = max_events
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._db = _connect(self.path)
        self._db.executescript(_SCHEMA)

    @property
    def _conn(self) -> sqlite3.Connection:
        """This process' connection (a forked child must not use its parent's: it opens its own)."""
        if self._pid != os.getpid():
            self._pid, self._db = os.getpid(), _connect(self.path)
        return self._db

    def put(self, alert: dict[str, Any], severity: str, target: str, ttl: float) -> tuple[int, list[tuple[int, str]]]:
        """Store one event: its id, and the (id, severity) of the events dropped to stay within the
        bound (possibly this one, when everything waiting is more severe)."""
        body = json.dumps(alert, separators=(",", ":"), default=str)
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                cur = c.execute("INSERT INTO events (severity, rank, target, ttl, alert) VALUES (?, ?, ?, ?, ?)",
                                (severity, severity_rank(severity), target, ttl, body))
                new_id = int(cur.lastrowid or 0)
                dropped: list[tuple[int, str]] = []
                (n,) = c.execute("SELECT count(*) FROM events").fetchone()
                if n > self.max_events:
                    dropped = [(int(r[0]), str(r[1])) for r in c.execute(
                        "SELECT id, severity FROM events ORDER BY rank DESC, id LIMIT ?", (n - self.max_events,))]
                    c.executemany("DELETE FROM events WHERE id = ?", [(i,) for i, _ in dropped])
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return new_id, dropped

    def oldest(self, limit: int = BATCH) -> list[SpooledEvent]:
        with self._lock:
            rows = self._conn.execute("SELECT id, severity, target, ttl, alert FROM events ORDER BY id LIMIT ?",
                                      (limit,)).fetchall()
        return [SpooledEvent(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def remove(self, ids: Sequence[int]) -> None:
        with self._lock:
            self._conn.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in ids])

    def count(self) -> int:
        with self._lock:
            (n,) = self._conn.execute("SELECT count(*) FROM events").fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PostOutcome:
    """What posting one batch gave."""

    ACCEPTED = "accepted"      # an Alertmanager took it
    REFUSED = "refused"        # every Alertmanager that answered said 4xx: the batch itself is wrong
    FAILED = "failed"          # none reachable, or 5xx / 429: try again later


Poster = Callable[[str, list[dict[str, Any]]], str]


def am_time(dt: datetime) -> str:
    """A time as Alertmanager's API writes it (UTC, milliseconds, `Z`)."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ready_to_post(event: SpooledEvent, now: datetime) -> dict[str, Any]:
    """The event's alert with `endsAt`: its start + ttl, or, delivered late, still open a while after
    delivery (`LATE_VISIBILITY`, or the ttl if shorter), so Alertmanager tells it."""
    alert = dict(event.alert)
    starts = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00"))
    ttl = timedelta(seconds=event.ttl)
    alert["endsAt"] = am_time(max(starts + ttl, now + min(ttl, LATE_VISIBILITY)))
    return alert


class SpoolSender:
    """The delivery thread of one spool file in this process (module docstring)."""

    def __init__(self, spool: EventSpool, post: Poster, *, on_delivered: Callable[[list[str]], None] | None = None,
                 on_refused: Callable[[list[str]], None] | None = None, poll_interval: float = 1.0,
                 min_backoff: float = 0.5, max_backoff: float = 30.0) -> None:
        self.spool = spool
        self.post = post
        self.on_delivered = on_delivered
        self.on_refused = on_refused
        self.poll_interval = poll_interval
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock_fd: int | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    @property
    def holds_lock(self) -> bool:
        return self._lock_fd is not None

    def start(self) -> SpoolSender:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="d76-event-spool", daemon=True)
                self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
        self._release()

    def _try_lock(self) -> bool:
        if self._lock_fd is not None:
            return True
        fd = os.open(f"{self.spool.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def _release(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def _after_fork_in_child(self) -> None:
        """A forked child inherits the lock's descriptor (and so the lock) but not this thread."""
        fd, self._lock_fd = self._lock_fd, None
        self._thread = None
        if fd is not None:
            os.close(fd)

    def _idle(self) -> None:
        """Nothing to send (or another process sends): wait for a wake-up or the next look."""
        self._wake.wait(self.poll_interval)
        self._wake.clear()

    def _run(self) -> None:
        backoff = self.min_backoff
        while not self._stop.is_set():
            try:
                if not self._try_lock():
                    self._idle()
                    continue
                events = self.spool.oldest()
                if not events:
                    self._idle()
                    continue
                first = events[0].target  # consecutive events for the same Alertmanager(s): order kept
                outcome = self._deliver(events[:next((i for i, e in enumerate(events) if e.target != first),
                                                     len(events))])
            except Exception:  # noqa: BLE001 - a broken spool file must not kill the thread silently
                log.exception("event spool: delivery step failed")
                outcome = PostOutcome.FAILED
            if outcome == PostOutcome.FAILED:
                self._stop.wait(backoff)  # not the wake event: new events must not shorten a back-off
                backoff = min(backoff * 2, self.max_backoff)
            else:
                backoff = self.min_backoff

    def _deliver(self, batch: list[SpooledEvent]) -> str:
        now = datetime.now(UTC)
        outcome = self.post(batch[0].target, [ready_to_post(e, now) for e in batch])
        if outcome == PostOutcome.ACCEPTED:
            self.spool.remove([e.id for e in batch])
            if self.on_delivered:
                self.on_delivered([e.severity for e in batch])
            return outcome
        if outcome == PostOutcome.REFUSED:
            if len(batch) > 1:  # find the one Alertmanager refuses; deliver the others
                for e in batch:
                    if self._deliver([e]) == PostOutcome.FAILED:
                        return PostOutcome.FAILED
                return PostOutcome.ACCEPTED
            log.error("event refused by Alertmanager, dropped", extra={"fields": {
                "alertname": batch[0].alert.get("labels", {}).get("alertname"), "severity": batch[0].severity}})
            self.spool.remove([batch[0].id])
            if self.on_refused:
                self.on_refused([batch[0].severity])
        return outcome

    def wait_empty(self, timeout: float) -> int:
        """Wait until the spool is empty (whichever process sends); the events left."""
        deadline = time.monotonic() + max(0.0, timeout)
        self.start()
        self.wake()
        while True:
            left = self.spool.count()
            if left == 0 or time.monotonic() >= deadline:
                return left
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


_senders: dict[str, SpoolSender] = {}
_senders_lock = threading.Lock()


def sender_for(path: Path, make: Callable[[], SpoolSender]) -> SpoolSender:
    """The one sender of a spool file in this process (a second flock on the same file from the
    same process would block itself)."""
    key = str(Path(path).resolve())
    with _senders_lock:
        s = _senders.get(key)
        if s is None:
            s = _senders[key] = make()
        return s


def _after_fork() -> None:
    for s in list(_senders.values()):
        s._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork)
