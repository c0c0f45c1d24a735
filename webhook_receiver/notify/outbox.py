"""The outbox: notification rows queued in the ingest transaction and delivered lane by lane.

A row is one thing to tell one destination of one channel (`channel`, `destination`): an alert
fired, resolved, was acknowledged; a message needs refreshing; the pipeline is down; the daily
digest. Rows are written in the same transaction as what caused them (`enqueue(tx, ...)`), so an
alert is never stored without its notifications queued, nor queued without being stored; the
`dedupe_key` makes Alertmanager's repeats and HA duplicates queue nothing twice.

Delivery is by lane (`notify.lanes`): only the process holding a lane's lease reads its due rows,
so a lane's rows can be packed into one message without two processes racing for them. States:

    pending -> sending -> sent        told (alone or packed: `message_ref` names the message)
                       -> folded      told as part of something else (counted in a packed message's
                                      tail, or shown by a later render of the same message)
                       -> failed      permanent error, or too many real failures
    pending <- sending                retry (rate limits never count as failures)

A row left `sending` by a process that died is taken again by the lane's next owner (at least
once: a crash between the send and the commit can repeat that one message).

Two kinds are not about an alert event: `reply` (a command's answer: payload `text`, `reply_to`,
`reply_markup`, `thread_id`, or `edit_message_id` to replace an earlier answer) and `graph` (the PNG
that follows a page). A graph row is queued `rendering` (invisible to the lanes) and becomes
`pending` with its PNG once the renderer thread made it (`claim_renders`, `graph_ready`), so the
lane never waits for Prometheus or matplotlib:

    rendering -> pending (PNG in the payload) -> sending -> sent
              -> failed (Prometheus or rendering failed; counted)
"""
from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vocabulary import MessageShape, NotificationKind, NotificationStatus

from ..store.base import AlertStore, Transaction, in_lists, utcnow

__all__ = ["Outbox", "KINDS", "STATUSES", "Lane", "Row"]

KINDS = tuple(NotificationKind)
STATUSES = tuple(NotificationStatus)
S = NotificationStatus
Row = dict[str, Any]
TIME_COLS = ("next_attempt_at", "locked_until", "created_at", "updated_at", "sent_at")
# every column but the payload, which `due` reads without a ready graph's PNG (it stays in the row
# until the lane sends it: `graph_png`)
_ROW_COLUMNS = ("id, alert_id, channel, destination, kind, severity, status, attempts, next_attempt_at, locked_until, "
                "locked_by, last_error, message_id, chat_id, dedupe_key, created_at, updated_at, sent_at, message_ref")
OPEN = (S.PENDING, S.SENDING)


@dataclass(frozen=True, order=True)
class Lane:
    channel: str
    destination: str

    def __str__(self) -> str:
        return f"{self.channel}:{self.destination}"


class Outbox:
    def __init__(self, store: AlertStore) -> None:
        self.store = store
        self.d = store.dialect

    # ---- rows in -------------------------------------------------------------------------------
    def enqueue(self, tx: Transaction, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert rows inside `tx`; a row whose `dedupe_key` exists is skipped. Returns how many
        were inserted.

        Keys: channel, kind, dedupe_key (required); destination (default ''), alert_id, severity,
        payload (dict), status ('pending'), next_attempt_at (now), message_ref.
        """
        d = self.d
        n = 0
        for r in rows:
            for k in ("channel", "kind", "dedupe_key"):
                if not r.get(k):
                    raise ValueError(f"notification row needs {k!r}")
            if r["kind"] not in KINDS:
                raise ValueError(f"notification kind {r['kind']!r} not one of {KINDS}")
            status = r.get("status", S.PENDING)
            if status not in STATUSES:
                raise ValueError(f"notification status {status!r} not one of {STATUSES}")
            cur = tx.execute(
                "INSERT INTO notifications (alert_id, channel, destination, kind, severity, status, attempts, "
                "next_attempt_at, payload, dedupe_key, created_at, updated_at, sent_at, message_ref) "
                "VALUES (%s, %s, %s, %s, %s, %s, 0, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                (
                    r.get("alert_id"), r["channel"], r.get("destination") or "", r["kind"], r.get("severity"),
                    status, d.time_in(r.get("next_attempt_at") or tx.now), d.json_in(r.get("payload") or {}),
                    r["dedupe_key"], d.time_in(tx.now), d.time_in(tx.now),
                    d.time_in(tx.now) if status in (S.SENT, S.FOLDED) else None, r.get("message_ref"),
                ),
            )
            n += len(cur.fetchall())  # not rowcount: unknown until sync in pipeline mode
        return n

    def enqueue_now(self, rows: Iterable[Mapping[str, Any]]) -> int:
        with self.store.transaction() as tx:
            return self.enqueue(tx, rows)

    # ---- lanes -----------------------------------------------------------------------------------
    def lanes_with_work(self, now: datetime | None = None) -> list[Lane]:
        now = now or utcnow()
        with self.store.transaction(write=False) as tx:
            rows = tx.fetchall(
                "SELECT DISTINCT channel, destination FROM notifications "
                "WHERE status IN ('pending', 'sending') AND next_attempt_at <= %s", (self.d.time_in(now),))
        return sorted(Lane(r["channel"], r["destination"]) for r in rows)

    def adopt(self, channel: str, destination: str) -> int:
        """Rows queued without a destination (before lanes existed) go to the channel's default."""
        with self.store.transaction() as tx:
            cur = tx.execute(
                "UPDATE notifications SET destination = %s WHERE channel = %s AND destination = '' "
                "AND status IN ('pending', 'sending') RETURNING id", (destination, channel))
            return len(cur.fetchall())

    def due(self, lane: Lane, now: datetime | None = None, limit: int = 2000) -> list[dict[str, Any]]:
        """The lane's rows to consider now: pending and due, or left `sending` by an earlier owner.
        Only the lane's lease holder calls this. Answers to commands first (however deep a storm's
        backlog, a person is waiting), then most severe first, then oldest."""
        now = now or utcnow()
        with self.store.transaction(write=False) as tx:
            rows = tx.fetchall(
                f"SELECT {_ROW_COLUMNS}, {self.d.json_without('payload', 'png')} AS payload "
                "FROM notifications WHERE channel = %s AND destination = %s "
                "AND status IN ('pending', 'sending') AND next_attempt_at <= %s "
                "ORDER BY CASE WHEN kind = 'reply' THEN 0 ELSE 1 END, severity IS NULL, severity, id LIMIT %s",
                (lane.channel, lane.destination, self.d.time_in(now), limit))
        return [self._out(r) for r in rows]

    def originals(self, lane: Lane, alert_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """For each alert, the lane's row that first told it (kind firing), if any."""
        ids = sorted({int(i) for i in alert_ids})
        out: dict[int, dict[str, Any]] = {}
        with self.store.transaction(write=False) as tx:
            for chunk, marks in in_lists(ids):
                for r in tx.fetchall(
                        f"SELECT * FROM notifications WHERE channel = %s AND destination = %s AND kind = 'firing' "
                        f"AND alert_id IN ({marks}) ORDER BY id", (lane.channel, lane.destination, *chunk)):
                    out.setdefault(int(r["alert_id"]), self._out(r))
        return out

    # ---- messages ----------------------------------------------------------------------------------
    def reserve_message(self, lane: Lane, shape: MessageShape) -> int:
        """A messages row for a message about to be sent (its id goes into button data)."""
        with self.store.transaction() as tx:
            now = self.d.time_in(tx.now)
            row = tx.fetchone(
                "INSERT INTO messages (channel, destination, shape, remote_ids, sent_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (lane.channel, lane.destination, shape, self.d.json_in([]), now, now))
        assert row is not None
        return int(row["id"])

    def set_message_remote_ids(self, message_ref: int, remote_ids: Sequence[str]) -> None:
        with self.store.transaction() as tx:
            tx.execute("UPDATE messages SET remote_ids = %s, sent_at = %s, updated_at = %s WHERE id = %s",
                       (self.d.json_in([str(x) for x in remote_ids]), self.d.time_in(tx.now),
                        self.d.time_in(tx.now), message_ref))

    def drop_message(self, message_ref: int) -> None:
        with self.store.transaction() as tx:
            tx.execute("DELETE FROM messages WHERE id = %s", (message_ref,))

    def message(self, message_ref: int) -> dict[str, Any] | None:
        with self.store.transaction(write=False) as tx:
            row = tx.fetchone("SELECT * FROM messages WHERE id = %s", (message_ref,))
        if row is None:
            return None
        out = dict(row)
        out["remote_ids"] = [str(x) for x in (self.d.json_out(out["remote_ids"]) or [])]
        for c in ("sent_at", "updated_at"):
            out[c] = self.d.time_out(out[c])
        return out

    def message_alert_ids(self, message_ref: int) -> list[int]:
        """Alerts named in a message (its firing, resolved, reminder and escalation rows), in the order
        they were queued."""
        with self.store.transaction(write=False) as tx:
            rows = tx.fetchall(
                "SELECT alert_id, min(id) AS first FROM notifications WHERE message_ref = %s "
                "AND alert_id IS NOT NULL AND kind IN ('firing', 'resolved', 'reminder', 'escalation') "
                "AND status IN ('sending', 'sent') "
                "GROUP BY alert_id ORDER BY first", (message_ref,))
        return [int(r["alert_id"]) for r in rows]

    def recent_sends(self, lane: Lane, since: datetime) -> list[datetime]:
        """When the lane's messages went out since `since` (seeds a new lease holder's pacing)."""
        with self.store.transaction(write=False) as tx:
            rows = tx.fetchall(
                "SELECT sent_at FROM messages WHERE channel = %s AND destination = %s AND sent_at >= %s "
                "ORDER BY sent_at", (lane.channel, lane.destination, self.d.time_in(since)))
        return [t for t in (self.d.time_out(r["sent_at"]) for r in rows) if t is not None]

    # ---- outcomes --------------------------------------------------------------------------------
    def _update(self, ids: Sequence[int], sets: str, values: Callable[[Transaction], tuple[Any, ...]],
                after: Callable[[Transaction], None] | None = None, where: str = "") -> None:
        """`UPDATE notifications SET <sets> WHERE id IN (ids) <where>` in one transaction; `values(tx)`
        gives the SET parameters (they may use the transaction's time)."""
        if not ids:
            return
        with self.store.transaction() as tx:
            marks = ", ".join(["%s"] * len(ids))
            tx.execute(f"UPDATE notifications SET {sets} WHERE id IN ({marks}){where}", (*values(tx), *ids))
            if after is not None:
                after(tx)

    def take(self, ids: Sequence[int], worker: str, lease_s: float, message_ref: int | None = None) -> None:
        """Mark rows `sending` (an attempt is under way) before the call to the service; with
        `message_ref`, they already belong to that message (a button pressed the moment it arrives
        finds them; if the send fails the message row is dropped and the reference with it)."""
        self._update(ids, "status = 'sending', locked_by = %s, locked_until = %s, attempts = attempts + 1, "
                          "updated_at = %s, message_ref = coalesce(%s, message_ref)",
                     lambda tx: (worker, self.d.time_in(tx.now + timedelta(seconds=lease_s)),
                                 self.d.time_in(tx.now), message_ref))

    def complete(self, ids: Sequence[int], status: NotificationStatus, *, message_ref: int | None = None,
                 remote_id: str | None = None, destination: str | None = None, worker: str | None = None,
                 note: str | None = None, remote_ids: Sequence[str] | None = None) -> None:
        """Rows told: `sent` (named in message `message_ref`) or `folded` (told within another).

        One short transaction, right after the service answered: with `remote_ids` the message's ids
        are recorded in it too. The time between the service accepting a message and this commit is
        the only moment a crash can make a message be told twice (at least once, never lost)."""
        if status not in (S.SENT, S.FOLDED):
            return

        def record_message(tx: Transaction) -> None:
            if remote_ids is not None and message_ref is not None:
                tx.execute("UPDATE messages SET remote_ids = %s, sent_at = %s, updated_at = %s WHERE id = %s",
                           (self.d.json_in([str(x) for x in remote_ids]), self.d.time_in(tx.now),
                            self.d.time_in(tx.now), message_ref))

        sets = ("status = %s, sent_at = %s, updated_at = %s, locked_by = NULL, locked_until = NULL, "
                "last_error = %s, message_ref = coalesce(%s, message_ref), "
                "message_id = coalesce(%s, message_id), chat_id = coalesce(%s, chat_id)")
        if worker:  # who told it (the timeline and the lane's history show it)
            sets += f", payload = {self.d.json_set_text('payload', 'worker')}"
        self._update(ids, sets, lambda tx: (status, self.d.time_in(tx.now), self.d.time_in(tx.now), note, message_ref,
                                            remote_id, destination, *([worker] if worker else [])),
                     after=record_message)

    def retry(self, rows: Sequence[Mapping[str, Any]], error: str, delay: float, *, count_failure: bool,
              max_failures: int, extra: Mapping[str, Any] | None = None) -> list[int]:
        """Put rows back to `pending` after `delay` seconds. A real failure (not a rate limit) counts;
        rows reaching `max_failures` fail instead. Returns the ids that failed."""
        failed: list[int] = []
        with self.store.transaction() as tx:
            at = self.d.time_in(tx.now + timedelta(seconds=max(0.0, delay)))
            for r in rows:
                payload = dict(r.get("payload") or {})
                if extra:
                    payload.update(extra)
                key = "failures" if count_failure else "rate_limited"
                payload[key] = int(payload.get(key, 0)) + 1
                if count_failure and payload["failures"] >= max_failures:
                    tx.execute(
                        "UPDATE notifications SET status = 'failed', last_error = %s, payload = %s, locked_by = NULL, "
                        "locked_until = NULL, updated_at = %s WHERE id = %s",
                        (f"gave up after {payload['failures']} failures: {error}"[:2000], self.d.json_in(payload),
                         self.d.time_in(tx.now), r["id"]))
                    failed.append(int(r["id"]))
                    continue
                tx.execute(
                    "UPDATE notifications SET status = 'pending', last_error = %s, payload = %s, next_attempt_at = %s, "
                    "locked_by = NULL, locked_until = NULL, updated_at = %s WHERE id = %s",
                    (error[:2000], self.d.json_in(payload), at, self.d.time_in(tx.now), r["id"]))
        return failed

    def fail(self, ids: Sequence[int], error: str) -> None:
        self._update(ids, "status = 'failed', last_error = %s, locked_by = NULL, locked_until = NULL, updated_at = %s",
                     lambda tx: (error[:2000], self.d.time_in(tx.now)))

    def release(self, ids: Sequence[int]) -> None:
        """Rows taken but not attempted (the process is stopping): back to pending, attempt undone."""
        self._update(ids, "status = 'pending', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, "
                          "locked_by = NULL, locked_until = NULL", lambda tx: (), where=" AND status = 'sending'")

    def _edit_payload(self, tx: Transaction, row_id: int, set_: Mapping[str, Any] | None = None,
                      drop: Sequence[str] = ()) -> None:
        """Set and remove keys of one row's JSON payload inside `tx`."""
        row = tx.fetchone("SELECT payload FROM notifications WHERE id = %s", (row_id,))
        if row is None:
            return
        payload = self.d.json_out(row["payload"]) or {}
        payload.update(set_ or {})
        for k in drop:
            payload.pop(k, None)
        tx.execute("UPDATE notifications SET payload = %s WHERE id = %s", (self.d.json_in(payload), row_id))

    # ---- graphs ---------------------------------------------------------------------------------------
    def claim_renders(self, worker: str, lease_s: float, limit: int = 5) -> list[dict[str, Any]]:
        """Graph rows waiting to be rendered (or whose renderer died), now leased to `worker`."""
        with self.store.transaction() as tx:
            now = self.d.time_in(tx.now)
            rows = tx.fetchall(
                "SELECT * FROM notifications WHERE kind = 'graph' AND status = 'rendering' "
                "AND (locked_until IS NULL OR locked_until < %s) ORDER BY id LIMIT %s", (now, limit))
            if rows:
                marks = ", ".join(["%s"] * len(rows))
                tx.execute(f"UPDATE notifications SET locked_by = %s, locked_until = %s, updated_at = %s "
                           f"WHERE id IN ({marks})",
                           (worker, self.d.time_in(tx.now + timedelta(seconds=lease_s)), now,
                            *[r["id"] for r in rows]))
        return [self._out(r) for r in rows]

    def graph_ready(self, row_id: int, png: bytes, caption: str) -> None:
        """The PNG is made: the row joins its lane (sent after the pages waiting there)."""
        with self.store.transaction() as tx:
            self._edit_payload(tx, row_id, {"png": base64.b64encode(png).decode("ascii"), "caption": caption})
            tx.execute("UPDATE notifications SET status = 'pending', next_attempt_at = %s, locked_by = NULL, "
                       "locked_until = NULL, updated_at = %s WHERE id = %s AND status = 'rendering'",
                       (self.d.time_in(tx.now), self.d.time_in(tx.now), row_id))

    def graph_png(self, row_id: int) -> bytes:
        """A ready graph's PNG (b"" when there is none or it does not decode)."""
        with self.store.transaction(write=False) as tx:
            row = tx.fetchone("SELECT payload FROM notifications WHERE id = %s", (row_id,))
        payload = (self.d.json_out(row["payload"]) if row else None) or {}
        try:
            return base64.b64decode(str(payload.get("png") or ""), validate=True)
        except ValueError:
            return b""

    def drop_payload_keys(self, row_ids: Sequence[int], keys: Sequence[str]) -> None:
        """Forget bulky payload entries once told (a sent graph's PNG)."""
        with self.store.transaction() as tx:
            for i in row_ids:
                self._edit_payload(tx, i, drop=keys)

    # ---- replies ----------------------------------------------------------------------------------
    def reply_payload(self, destination: str, message_id: str) -> dict[str, Any] | None:
        """The payload of the answer that first became message `message_id` in chat `destination`
        (a paged `/alerts` keeps its query there)."""
        with self.store.transaction(write=False) as tx:
            row = tx.fetchone(
                "SELECT payload FROM notifications WHERE kind = 'reply' AND chat_id = %s AND message_id = %s "
                "ORDER BY id LIMIT 1", (str(destination), str(message_id)))
        if row is None:
            return None
        v = self.d.json_out(row["payload"])
        return v if isinstance(v, dict) else None

    # ---- reads ---------------------------------------------------------------------------------------
    def _out(self, row: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for c in TIME_COLS:
            if c in out:
                out[c] = self.d.time_out(out[c])
        if "payload" in out:
            v = self.d.json_out(out["payload"])
            out["payload"] = v if isinstance(v, dict) else (json.loads(v) if isinstance(v, str) else {})
        return out

    def deliveries(self, alert_id: int, tx: Transaction | None = None) -> list[dict[str, Any]]:
        """Every notification row of one alert, oldest first (the API's `deliveries`)."""
        if tx is None:
            with self.store.transaction(write=False) as own:
                return self.deliveries(alert_id, own)
        return [self._out(r) for r in tx.fetchall(
            "SELECT * FROM notifications WHERE alert_id = %s ORDER BY id", (alert_id,))]

    def list(self, alert_id: int | None = None, status: str | None = None, kind: str | None = None,
             limit: int = 1000) -> list[dict[str, Any]]:
        where, params = [], []
        for col, val in (("alert_id", alert_id), ("status", status), ("kind", kind)):
            if val is not None:
                where.append(f"{col} = %s")
                params.append(val)
        sql = "SELECT * FROM notifications" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY id LIMIT %s"
        params.append(limit)
        with self.store.transaction(write=False) as tx:
            return [self._out(r) for r in tx.fetchall(sql, params)]

    def depth(self) -> dict[str, int]:
        """Rows not yet delivered (pending or in flight), by channel."""
        with self.store.transaction(write=False) as tx:
            rows = tx.fetchall("SELECT channel, count(*) AS n FROM notifications "
                               "WHERE status IN ('pending', 'sending') GROUP BY channel")
        return {r["channel"]: int(r["n"]) for r in rows}
