"""Retention queries: delete history older than a cutoff in small batches.

What goes, per batch (one short transaction each, so ingest never waits long behind a prune):

- alerts that are resolved and both started and ended before the history cutoff, unless one of
  their notifications is still waiting for delivery (`pending`/`sending`); with them their
  notification rows, their suppressed episodes, and the messages that named only them (a packed
  message stays while any alert it named is kept);
- notification rows without an alert (dead man's switch, digest) created before the cutoff and no
  longer waiting; messages older than the cutoff that no notification refers to;
- raw webhook payloads (the audit copy) received before the payload cutoff (their own, shorter,
  retention).

`count_prunable` answers the same predicates without deleting (`d76 db prune --dry-run`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .base import AlertStore, Transaction, in_lists

__all__ = ["Retention", "PruneCounts", "TABLES"]

TABLES = ("alerts", "notifications", "messages", "suppressed_episodes", "webhook_payloads")
WAITING = "('pending', 'sending')"

_OLD_ALERTS = (
    "FROM alerts a WHERE a.starts_at < %s AND a.status = 'resolved' AND a.ends_at < %s "
    f"AND NOT EXISTS (SELECT 1 FROM notifications w WHERE w.alert_id = a.id AND w.status IN {WAITING})"
)
_OLD_ORPHAN_NOTIFICATIONS = f"FROM notifications WHERE alert_id IS NULL AND created_at < %s AND status NOT IN {WAITING}"
_OLD_LONE_MESSAGES = (
    "FROM messages m WHERE m.sent_at < %s AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.message_ref = m.id)"
)
_OLD_PAYLOADS = "FROM webhook_payloads WHERE received_at < %s"
_SLICE = 10_000  # ids per DELETE: the default batch (1000) stays one statement per table


@dataclass
class PruneCounts:
    """Rows deleted (or, for a dry run, that would be) per table."""

    rows: dict[str, int] = field(default_factory=lambda: {t: 0 for t in TABLES})

    def add(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + n

    def merge(self, other: PruneCounts) -> None:
        for t, n in other.rows.items():
            self.add(t, n)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


class Retention:
    def __init__(self, store: AlertStore) -> None:
        self.store = store
        self.d = store.dialect

    # ---- one batch each; a result below `batch` means that table is done -------------------------
    def prune_alerts_batch(self, cutoff: datetime, batch: int) -> PruneCounts:
        """Delete up to `batch` old alerts with their notifications, episodes and lone messages."""
        d = self.d
        out = PruneCounts()
        with self.store.transaction() as tx:
            ids = [int(r["id"]) for r in tx.fetchall(
                f"SELECT a.id {_OLD_ALERTS} ORDER BY a.starts_at LIMIT %s",
                (d.time_in(cutoff), d.time_in(cutoff), batch))]
            refs: set[int] = set()
            # in slices: a batch (up to HISTORY_PRUNE_BATCH, 100,000) is more than one statement may bind
            for chunk, marks in in_lists(ids, _SLICE):
                gone = tx.fetchall(
                    f"DELETE FROM notifications WHERE alert_id IN ({marks}) RETURNING message_ref", chunk)
                out.add("notifications", len(gone))
                refs.update(int(r["message_ref"]) for r in gone if r["message_ref"] is not None)
                out.add("suppressed_episodes", _count(tx.execute(
                    f"DELETE FROM suppressed_episodes WHERE alert_id IN ({marks}) RETURNING id", chunk)))
                out.add("alerts", _count(tx.execute(f"DELETE FROM alerts WHERE id IN ({marks}) RETURNING id", chunk)))
            for chunk, marks in in_lists(sorted(refs), _SLICE):
                out.add("messages", _count(tx.execute(
                    f"DELETE FROM messages WHERE id IN ({marks}) AND NOT EXISTS "
                    f"(SELECT 1 FROM notifications n WHERE n.message_ref = messages.id) RETURNING id", chunk)))
        return out

    def prune_orphans_batch(self, cutoff: datetime, batch: int) -> PruneCounts:
        """Old notification rows without an alert, then old messages nothing refers to."""
        d = self.d
        out = PruneCounts()
        with self.store.transaction() as tx:
            out.add("notifications", _count(tx.execute(
                f"DELETE FROM notifications WHERE id IN (SELECT id {_OLD_ORPHAN_NOTIFICATIONS} ORDER BY id LIMIT %s) "
                "RETURNING id", (d.time_in(cutoff), batch))))
            out.add("messages", _count(tx.execute(
                f"DELETE FROM messages WHERE id IN (SELECT m.id {_OLD_LONE_MESSAGES} ORDER BY m.id LIMIT %s) "
                "RETURNING id", (d.time_in(cutoff), batch))))
        return out

    def prune_payloads_batch(self, cutoff: datetime, batch: int) -> PruneCounts:
        out = PruneCounts()
        with self.store.transaction() as tx:
            out.add("webhook_payloads", _count(tx.execute(
                f"DELETE FROM webhook_payloads WHERE id IN (SELECT id {_OLD_PAYLOADS} ORDER BY received_at LIMIT %s) "
                "RETURNING id", (self.d.time_in(cutoff), batch))))
        return out

    # ---- dry run ---------------------------------------------------------------------------------
    def count_prunable(self, history_cutoff: datetime, payload_cutoff: datetime) -> PruneCounts:
        d = self.d
        h, p = d.time_in(history_cutoff), d.time_in(payload_cutoff)
        out = PruneCounts()
        with self.store.transaction(write=False) as tx:
            out.add("alerts", _one(tx, f"SELECT count(*) AS n {_OLD_ALERTS}", (h, h)))
            old_ids = f"SELECT a.id {_OLD_ALERTS}"
            out.add("notifications", _one(tx, f"SELECT count(*) AS n FROM notifications WHERE alert_id IN ({old_ids})",
                                          (h, h)))
            out.add("notifications", _one(tx, f"SELECT count(*) AS n {_OLD_ORPHAN_NOTIFICATIONS}", (h,)))
            out.add("suppressed_episodes", _one(
                tx, f"SELECT count(*) AS n FROM suppressed_episodes WHERE alert_id IN ({old_ids})", (h, h)))
            # messages whose every notification belongs to a pruned alert, or that none refers to
            out.add(
                "messages",
                _one(
                    tx,
                    "SELECT count(*) AS n FROM messages m WHERE EXISTS (SELECT 1 FROM notifications n "
                    f"WHERE n.message_ref = m.id AND n.alert_id IN ({old_ids})) AND NOT EXISTS (SELECT 1 FROM "
                    f"notifications k WHERE k.message_ref = m.id "
                    f"AND (k.alert_id IS NULL OR k.alert_id NOT IN ({old_ids})))",
                    (h, h, h, h),
                ),
            )
            out.add("messages", _one(tx, f"SELECT count(*) AS n {_OLD_LONE_MESSAGES}", (h,)))
            out.add("webhook_payloads", _one(tx, f"SELECT count(*) AS n {_OLD_PAYLOADS}", (p,)))
        return out


def _count(cur: Any) -> int:
    # not rowcount: psycopg's is only known after the result is read; fetchall works on both backends
    return len(cur.fetchall())


def _one(tx: Transaction, sql: str, params: tuple[Any, ...]) -> int:
    row = tx.fetchone(sql, params)
    return int(row["n"]) if row else 0
