"""Who owns an alert, and what is due about it: the acknowledgement events and the follow-ups.

- `alert_ack_events`: every acknowledgement, unacknowledgement and comment (who, when, what), oldest
  first. The alert row keeps the current state (`acknowledged*`, `ack_comment`: the acknowledgement's
  own), the latest comment (`last_comment`, by `last_comment_by`: the acknowledgement's, a later one,
  or the unacknowledgement's) and how many reminders and escalation steps went out (`reminders_sent`,
  `escalations_sent`): what its messages show.
- `alert_followups`: one row per reminder or escalation step that is due at a time (`due_at`,
  status `due`). A row is written in the transaction of what caused it (the ingest of a new firing
  alert, an unacknowledgement) and settled once, in one transaction, by whichever receiver claims it
  first (`claim_due`): `done` (told), `cancelled` (acknowledged, resolved, ...). A reminder that finds
  its alert silenced or muted moves its due time on and stays `due` (reminders resume when the
  silence ends). `(alert_id, kind, chain, step, round)` is unique, so a repeat queues nothing twice;
  an unacknowledgement starts a new `round`.

Thin SQL over `AlertStore.transaction()`, written once for both backends; every write runs inside
the caller's transaction. What is due and what it tells is decided in `webhook_receiver.notify.followups`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..timefmt import as_utc
from .base import AlertStore, Transaction, in_lists

__all__ = ["AckEvent", "Followup", "OwnershipTables", "ACK", "UNACK", "COMMENT", "REMINDER", "ESCALATION",
           "DUE", "DONE", "CANCELLED"]

ACK, UNACK, COMMENT = "ack", "unack", "comment"
REMINDER, ESCALATION = "reminder", "escalation"
DUE, DONE, CANCELLED = "due", "done", "cancelled"


@dataclass(frozen=True)
class AckEvent:
    id: int
    alert_id: int
    action: str  # ack | unack | comment
    actor: str
    comment: str | None
    at: datetime


@dataclass(frozen=True)
class Followup:
    """A reminder (`step` = its number) or an escalation step (`chain`, `step` = index in the chain)."""

    id: int
    alert_id: int
    kind: str
    chain: int
    step: int
    round: int
    due_at: datetime
    status: str
    outcome: str | None
    detail: Mapping[str, Any]
    updated_at: datetime


class OwnershipTables:
    def __init__(self, store: AlertStore) -> None:
        self.store = store
        self.d = store.dialect

    # ---- acknowledgement events ---------------------------------------------------------------
    def add_event(self, tx: Transaction, alert_id: int, action: str, actor: str, comment: str | None,
                  at: datetime | None = None) -> int:
        row = tx.fetchone("INSERT INTO alert_ack_events (alert_id, action, actor, comment, at) "
                          "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                          (alert_id, action, actor, comment, self.d.time_in(at or tx.now)))
        assert row is not None
        return int(row["id"])

    def events(self, alert_id: int, tx: Transaction) -> list[AckEvent]:
        rows = tx.fetchall("SELECT * FROM alert_ack_events WHERE alert_id = %s ORDER BY id", (alert_id,))
        return [AckEvent(int(r["id"]), int(r["alert_id"]), str(r["action"]), str(r["actor"]), r["comment"],
                         _aware(self.d.time_out(r["at"]))) for r in rows]

    def unack_count(self, tx: Transaction, alert_id: int) -> int:
        row = tx.fetchone("SELECT count(*) AS n FROM alert_ack_events WHERE alert_id = %s AND action = %s",
                          (alert_id, UNACK))
        return int(row["n"]) if row else 0

    def set_comment(self, tx: Transaction, alert_id: int, actor: str | None, comment: str | None) -> None:
        """The latest comment, which the alert's messages show."""
        tx.execute("UPDATE alerts SET last_comment = %s, last_comment_by = %s WHERE id = %s",
                   (comment, actor, alert_id))

    def unacknowledge(self, tx: Transaction, alert_id: int) -> bool:
        """Clear the acknowledgement (and its comment); False when the alert was not acknowledged."""
        cur = tx.execute("UPDATE alerts SET acknowledged = %s, acknowledged_at = NULL, acknowledged_by = NULL, "
                         "ack_comment = NULL WHERE id = %s AND acknowledged = %s RETURNING id", (False, alert_id, True))
        return bool(cur.fetchall())

    # ---- follow-ups -----------------------------------------------------------------------------
    def schedule(self, tx: Transaction, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert follow-ups (keys: alert_id, kind, chain, step, round, due_at, detail); a row whose key
        exists is skipped. Returns how many were inserted."""
        n = 0
        now = self.d.time_in(tx.now)
        for r in rows:
            cur = tx.execute(
                "INSERT INTO alert_followups (alert_id, kind, chain, step, round, due_at, status, detail, created_at, "
                "updated_at) VALUES (%s, %s, %s, %s, %s, %s, 'due', %s, %s, %s) "
                "ON CONFLICT (alert_id, kind, chain, step, round) DO NOTHING RETURNING id",
                (r["alert_id"], r["kind"], int(r.get("chain", 0)), int(r["step"]), int(r.get("round", 0)),
                 self.d.time_in(r["due_at"]), self.d.json_in(dict(r.get("detail") or {})), now, now))
            n += len(cur.fetchall())
        return n

    def cancel(self, tx: Transaction, alert_id: int, why: str, kinds: Sequence[str] = (REMINDER, ESCALATION)) -> int:
        """Every due follow-up of the alert (of these kinds) cancelled, saying why."""
        marks = ", ".join(["%s"] * len(kinds))
        cur = tx.execute(f"UPDATE alert_followups SET status = 'cancelled', outcome = %s, updated_at = %s "
                         f"WHERE alert_id = %s AND status = 'due' AND kind IN ({marks}) RETURNING id",
                         (why[:500], self.d.time_in(tx.now), alert_id, *kinds))
        return len(cur.fetchall())

    def claim_due(self, tx: Transaction, now: datetime, limit: int = 500) -> list[Followup]:
        """The due follow-ups, most overdue first, locked for this transaction: on PostgreSQL another
        receiver skips them (and, once this transaction commits, finds them settled); SQLite has one
        writer at a time. The caller settles each (`settle`, `postpone`) before committing."""
        lock = " FOR UPDATE SKIP LOCKED" if tx.backend == "postgresql" else ""
        rows = tx.fetchall(f"SELECT * FROM alert_followups WHERE status = 'due' AND due_at <= %s "
                           f"ORDER BY due_at, id LIMIT %s{lock}", (self.d.time_in(now), limit))
        return [self._followup(r) for r in rows]

    def any_due(self, now: datetime) -> bool:
        """Whether something is due (a read: the worker opens a write transaction only then)."""
        with self.store.transaction(write=False) as tx:
            row = tx.fetchone("SELECT id FROM alert_followups WHERE status = 'due' AND due_at <= %s LIMIT 1",
                              (self.d.time_in(now),))
        return row is not None

    def lock_alerts(self, tx: Transaction, alert_ids: Sequence[int]) -> None:
        """Hold these alerts' rows until the transaction ends (PostgreSQL), so an acknowledgement
        committing meanwhile is seen before anything is told (follow-up rows are always locked
        before alert rows, by this and by the actions, so the two never wait for each other)."""
        if tx.backend != "postgresql":
            return
        for chunk, marks in in_lists(sorted(set(alert_ids))):
            tx.execute(f"SELECT id FROM alerts WHERE id IN ({marks}) ORDER BY id FOR UPDATE", chunk)

    def settle(self, tx: Transaction, followup_id: int, status: str, outcome: str,
               detail: Mapping[str, Any] | None = None) -> None:
        sets = "status = %s, outcome = %s, updated_at = %s"
        params: list[Any] = [status, outcome[:500], self.d.time_in(tx.now)]
        if detail is not None:
            sets += ", detail = %s"
            params.append(self.d.json_in(dict(detail)))
        tx.execute(f"UPDATE alert_followups SET {sets} WHERE id = %s", (*params, followup_id))

    def postpone(self, tx: Transaction, followup_id: int, due_at: datetime, why: str) -> None:
        tx.execute("UPDATE alert_followups SET due_at = %s, outcome = %s, updated_at = %s WHERE id = %s",
                   (self.d.time_in(due_at), why[:500], self.d.time_in(tx.now), followup_id))

    def count_sent(self, tx: Transaction, alert_id: int, kind: str) -> None:
        column = "reminders_sent" if kind == REMINDER else "escalations_sent"
        tx.execute(f"UPDATE alerts SET {column} = {column} + 1 WHERE id = %s", (alert_id,))

    def followups(self, alert_id: int, tx: Transaction) -> list[Followup]:
        rows = tx.fetchall("SELECT * FROM alert_followups WHERE alert_id = %s ORDER BY due_at, id", (alert_id,))
        return [self._followup(r) for r in rows]

    def last_step(self, tx: Transaction, alert_id: int, kind: str) -> int:
        row = tx.fetchone("SELECT max(step) AS n FROM alert_followups WHERE alert_id = %s AND kind = %s",
                          (alert_id, kind))
        return int(row["n"]) if row and row["n"] is not None else 0

    def due_count(self) -> int:
        with self.store.transaction(write=False) as tx:
            row = tx.fetchone("SELECT count(*) AS n FROM alert_followups WHERE status = 'due'")
        return int(row["n"]) if row else 0

    def next_due(self) -> datetime | None:
        """When the earliest due follow-up is due (None: nothing is)."""
        with self.store.transaction(write=False) as tx:
            row = tx.fetchone("SELECT min(due_at) AS t FROM alert_followups WHERE status = 'due'")
        return _aware(self.d.time_out(row["t"])) if row and row["t"] is not None else None

    def _followup(self, r: Mapping[str, Any]) -> Followup:
        detail = self.d.json_out(r["detail"])
        return Followup(int(r["id"]), int(r["alert_id"]), str(r["kind"]), int(r["chain"]), int(r["step"]),
                        int(r["round"]), _aware(self.d.time_out(r["due_at"])), str(r["status"]), r["outcome"],
                        detail if isinstance(detail, dict) else {}, _aware(self.d.time_out(r["updated_at"])))


def _aware(v: datetime | None) -> datetime:
    t = as_utc(v)
    if t is None:
        raise ValueError("a follow-up or event without its time")
    return t
