"""History tables beyond the alert rows themselves: reconciliation marks, alerts first known from
Alertmanager's API, suppressed episodes, the job leases, and the reads a timeline needs.

Like the outbox, this is a thin layer over `AlertStore.transaction()` with SQL written once (`%s`
placeholders, `Dialect` conversions). The reconciler (`webhook_receiver.history.reconcile`) decides;
these methods only read and write, each write inside the caller's transaction so one poll's changes
commit together.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from .base import ALERT_COLUMNS, ORIGIN_POLLED, AlertStore, Transaction, in_lists, ms_floor

__all__ = ["HistoryTables", "PolledAlert", "EpisodeCause", "EPISODE_KINDS"]

EPISODE_KINDS = ("silenced", "inhibited", "muted")  # muted: by a recurring maintenance window (cause: its name)
_EPISODE_TIME_COLS = ("silence_starts_at", "silence_ends_at", "started_at", "ended_at")


@dataclass(frozen=True)
class PolledAlert:
    """One alert as Alertmanager's API v2 lists it (`GET /api/v2/alerts`), merged over replicas."""

    fingerprint: str
    starts_at: datetime  # to the millisecond (the API's precision)
    ends_at: datetime | None
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str = ""
    state: str = "active"  # active | suppressed | unprocessed
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    receivers: tuple[str, ...] = ()

    @cached_property
    def key(self) -> tuple[str, datetime]:
        return (self.fingerprint, ms_floor(self.starts_at))

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def suppressed(self) -> bool:
        return bool(self.silenced_by or self.inhibited_by)


@dataclass(frozen=True)
class EpisodeCause:
    """Why an alert is suppressed right now: a silence (with its author and reason), an inhibiting
    alert (with its name, labels and stored occurrence when known), or a recurring maintenance window
    Alertmanager mutes it by (`muted`, its name)."""

    kind: str  # silenced | inhibited | muted
    cause: str  # silence id, the inhibiting alert's fingerprint, or the maintenance window's name
    silence_created_by: str | None = None
    silence_comment: str | None = None
    silence_starts_at: datetime | None = None
    silence_ends_at: datetime | None = None
    inhibiting_alert_id: int | None = None
    inhibiting_alertname: str | None = None
    inhibiting_labels: dict[str, str] | None = field(default=None, hash=False, compare=False)


class HistoryTables:
    def __init__(self, store: AlertStore) -> None:
        self.store = store
        self.d = store.dialect

    # ---- the reconciler's reads ------------------------------------------------------------------
    _FIRING_COLUMNS = ('id, fingerprint, starts_at, alertname, "timestamp", last_received_at, receive_count, '
                       "am_last_seen_at, origin")

    def firing_alerts(self, tx: Transaction, ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Every stored alert still `firing` (the set the reconciler checks against Alertmanager), or
        those of these ids that are."""
        if ids is None:
            rows = tx.fetchall(f"SELECT {self._FIRING_COLUMNS} FROM alerts WHERE status = 'firing'")
        else:
            rows = []
            for chunk, marks in in_lists(ids):
                rows += tx.fetchall(f"SELECT {self._FIRING_COLUMNS} FROM alerts WHERE status = 'firing' "
                                    f"AND id IN ({marks})", chunk)
        return [self._alert(r) for r in rows]

    def firing_ids(self, tx: Transaction) -> set[int]:
        """The ids of the alerts firing now, in one value (an array, or a list in text on SQLite)."""
        if self.d.name == "postgresql":
            row = tx.fetchone("SELECT array_agg(id) AS ids FROM alerts WHERE status = 'firing'")
            return set(row["ids"] or ()) if row else set()
        row = tx.fetchone("SELECT group_concat(id) AS ids FROM alerts WHERE status = 'firing'")
        return {int(x) for x in row["ids"].split(",")} if row and row["ids"] else set()

    def firing_digest(self, tx: Transaction) -> tuple[int, int, int]:
        """How many alerts are firing, the sum and the largest of their ids: any change to the set of
        firing alerts (one stored, resolved or reopened, here or by another receiver) changes it. One
        read of the firing alerts' index; the reconciler compares it to tell an unchanged poll."""
        row = tx.fetchone("SELECT count(*) AS n, coalesce(sum(id), 0) AS s, coalesce(max(id), 0) AS m "
                          "FROM alerts WHERE status = 'firing'")
        assert row is not None
        return int(row["n"]), int(row["s"]), int(row["m"])

    def alerts_for(
        self, tx: Transaction, keys: Iterable[tuple[str, datetime]]
    ) -> dict[tuple[str, datetime], dict[str, Any]]:
        """Stored occurrences (any status) matching Alertmanager's (fingerprint, millisecond startsAt)."""
        wanted: dict[str, set[datetime]] = {}
        for fp, start in keys:
            wanted.setdefault(fp, set()).add(ms_floor(start))
        out: dict[tuple[str, datetime], dict[str, Any]] = {}
        fps = sorted(wanted)
        for chunk, marks in in_lists(fps):
            first = min(min(wanted[f]) for f in chunk)
            for r in tx.fetchall(
                    f"SELECT {ALERT_COLUMNS} FROM alerts WHERE fingerprint IN ({marks}) AND starts_at >= %s",
                    (*chunk, self.d.time_in(first))):
                row = self._alert(r)
                key = (row["fingerprint"], ms_floor(row["starts_at"]))
                if key[1] in wanted.get(key[0], ()):
                    out.setdefault(key, row)
        return out

    # ---- the reconciler's writes -----------------------------------------------------------------
    def insert_polled(self, tx: Transaction, a: PolledAlert) -> int | None:
        """Store an alert known only from Alertmanager's API (suppressed from the start, so no webhook
        brought it): `origin` 'alertmanager', `receive_count` 0 until a webhook brings it (which then
        counts as its first telling). Returns the new id, or None when the occurrence exists."""
        d = self.d
        now = d.time_in(tx.now)
        title = a.annotations.get("summary", "") or a.alertname
        meta = {"generatorURL": a.generator_url, "receiver": ",".join(a.receivers), "groupKey": "",
                "externalURL": "", "firstSeenSuppressed": True}
        row = tx.fetchone(
            'INSERT INTO alerts (fingerprint, starts_at, alertname, status, severity, source, title, message, labels, '
            'annotations, metadata, "timestamp", last_received_at, ends_at, receive_count, acknowledged, origin, '
            "am_last_seen_at) VALUES (%s, %s, %s, 'firing', %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, 0, %s, %s, %s) "
            "ON CONFLICT (fingerprint, starts_at) DO NOTHING RETURNING id",
            (a.fingerprint, d.time_in(ms_floor(a.starts_at)), a.alertname, a.labels.get("severity", ""),
             a.labels.get("source", ""), title, a.annotations.get("description", ""), d.json_in(a.labels),
             d.json_in(a.annotations), d.json_in(meta), now, now, False, ORIGIN_POLLED, now))
        return int(row["id"]) if row else None

    def mark_seen(self, tx: Transaction, alert_ids: Sequence[int]) -> None:
        """Alertmanager listed these alerts now (kept so an end time survives a restart)."""
        if self.d.name == "postgresql":  # one statement, one array parameter, however many
            tx.execute("UPDATE alerts SET am_last_seen_at = %s WHERE id = ANY(%s)", (tx.now, list(alert_ids)))
            return
        for chunk, marks in in_lists(alert_ids):
            tx.execute(
                f"UPDATE alerts SET am_last_seen_at = %s WHERE id IN ({marks})", (self.d.time_in(tx.now), *chunk)
            )

    def resolve_reconciled(self, tx: Transaction, alert_id: int, ends_at: datetime,
                           last_seen: datetime | None) -> dict[str, Any] | None:
        """Resolve a firing alert Alertmanager no longer has. Returns the updated row, or None when it
        was no longer firing (a webhook resolved it meanwhile, or another process did)."""
        d = self.d
        row = tx.fetchone(
            f"UPDATE alerts SET status = 'resolved', ends_at = %s, reconciled_at = %s, "
            f"am_last_seen_at = coalesce(%s, am_last_seen_at) WHERE id = %s AND status = 'firing' "
            f"RETURNING {ALERT_COLUMNS}",
            (d.time_in(ends_at), d.time_in(tx.now), d.time_in(last_seen), alert_id))
        return self._alert(row) if row else None

    def reopen(self, tx: Transaction, alert_id: int) -> bool:
        """Alertmanager lists again an alert the reconciler resolved: it was still firing. Reopen it,
        keeping a trace of the wrong resolution in its metadata."""
        row = tx.fetchone("SELECT metadata, ends_at, reconciled_at FROM alerts WHERE id = %s AND status = 'resolved' "
                          "AND reconciled_at IS NOT NULL", (alert_id,))
        if row is None:
            return False
        meta = self.d.json_out(row["metadata"]) or {}
        trace = list(meta.get("reconcileReopened") or [])
        trace.append({"resolvedAt": _iso(self.d.time_out(row["reconciled_at"])),
                      "endsAt": _iso(self.d.time_out(row["ends_at"])), "reopenedAt": _iso(tx.now)})
        meta["reconcileReopened"] = trace[-20:]
        tx.execute("UPDATE alerts SET status = 'firing', ends_at = NULL, reconciled_at = NULL, am_last_seen_at = %s, "
                   "metadata = %s WHERE id = %s", (self.d.time_in(tx.now), self.d.json_in(meta), alert_id))
        tx.execute(
            "UPDATE suppressed_episodes SET ended_at = NULL WHERE alert_id = %s AND ended_at = %s "
            "AND NOT EXISTS (SELECT 1 FROM suppressed_episodes o WHERE o.alert_id = suppressed_episodes.alert_id "
            "AND o.kind = suppressed_episodes.kind AND o.cause = suppressed_episodes.cause AND o.ended_at IS NULL)",
            (alert_id, row["ends_at"]),
        )
        return True

    # ---- suppressed episodes ----------------------------------------------------------------------
    def open_episodes(self, tx: Transaction) -> list[dict[str, Any]]:
        """Episodes still open, with their alert's status and end (to close those whose alert ended)."""
        rows = tx.fetchall(
            "SELECT e.*, a.status AS alert_status, a.ends_at AS alert_ends_at FROM suppressed_episodes e "
            "JOIN alerts a ON a.id = e.alert_id WHERE e.ended_at IS NULL")
        out = []
        for r in rows:
            e = self._episode(r)
            e["alert_ends_at"] = self.d.time_out(r["alert_ends_at"])
            out.append(e)
        return out

    def open_episode(self, tx: Transaction, alert_id: int, c: EpisodeCause) -> bool:
        """Record that the alert is suppressed by this cause (once per episode); refresh the silence's
        end and the inhibiting alert's link when they changed. Returns True for a new episode."""
        d = self.d
        params = (alert_id, c.kind, c.cause, c.silence_created_by, c.silence_comment, d.time_in(c.silence_starts_at),
                  d.time_in(c.silence_ends_at), c.inhibiting_alert_id, c.inhibiting_alertname,
                  d.json_in(c.inhibiting_labels) if c.inhibiting_labels is not None else None, d.time_in(tx.now))
        row = tx.fetchone(
            "INSERT INTO suppressed_episodes (alert_id, kind, cause, silence_created_by, silence_comment, "
            "silence_starts_at, silence_ends_at, inhibiting_alert_id, inhibiting_alertname, inhibiting_labels, "
            "started_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (alert_id, kind, cause) WHERE ended_at IS NULL DO NOTHING RETURNING id", params)
        if row is not None:
            return True
        # an open episode exists: keep its details current without rewriting an unchanged row
        sets: list[str] = []
        conds: list[str] = []
        vals: list[Any] = []
        wvals: list[Any] = []
        if c.silence_ends_at is not None:
            sets.append("silence_ends_at = %s")
            vals.append(d.time_in(c.silence_ends_at))
            conds.append("silence_ends_at IS NULL OR silence_ends_at <> %s")
            wvals.append(d.time_in(c.silence_ends_at))
        if c.silence_created_by is not None:
            sets += [
                "silence_created_by = coalesce(silence_created_by, %s)",
                "silence_comment = coalesce(silence_comment, %s)",
            ]
            vals += [c.silence_created_by, c.silence_comment]
            conds.append("silence_created_by IS NULL")
        if c.inhibiting_alert_id is not None:
            sets += ["inhibiting_alert_id = coalesce(inhibiting_alert_id, %s)"]
            vals.append(c.inhibiting_alert_id)
            conds.append("inhibiting_alert_id IS NULL")
        if sets:
            tx.execute(
                f"UPDATE suppressed_episodes SET {', '.join(sets)} WHERE alert_id = %s AND kind = %s AND cause = %s "
                f"AND ended_at IS NULL AND ({' OR '.join('(' + x + ')' for x in conds)})",
                (*vals, alert_id, c.kind, c.cause, *wvals),
            )
        return False

    @staticmethod
    def episode_current(open_row: Mapping[str, Any], c: EpisodeCause) -> bool:
        """Whether `open_episode(c)` would leave this open episode (a row of `open_episodes`) as it
        is: the same conditions as its UPDATE. The reconciler then writes nothing for it."""
        return not ((c.silence_ends_at is not None and open_row.get("silence_ends_at") != c.silence_ends_at)
                    or (c.silence_created_by is not None and open_row.get("silence_created_by") is None)
                    or (c.inhibiting_alert_id is not None and open_row.get("inhibiting_alert_id") is None))

    def close_episode(self, tx: Transaction, episode_id: int, at: datetime) -> None:
        tx.execute("UPDATE suppressed_episodes SET ended_at = %s WHERE id = %s AND ended_at IS NULL",
                   (self.d.time_in(at), episode_id))

    def episodes_for(self, alert_ids: Iterable[int], tx: Transaction | None = None) -> dict[int, list[dict[str, Any]]]:
        """Every episode of these alerts, oldest first."""
        ids = sorted({int(i) for i in alert_ids})
        if tx is None:
            with self.store.transaction(write=False) as own:
                return self.episodes_for(ids, own)
        out: dict[int, list[dict[str, Any]]] = {}
        for chunk, marks in in_lists(ids):
            for r in tx.fetchall(
                f"SELECT * FROM suppressed_episodes WHERE alert_id IN ({marks}) ORDER BY started_at, id", chunk
            ):
                out.setdefault(int(r["alert_id"]), []).append(self._episode(r))
        return out

    def episodes_between(self, since: datetime, until: datetime, limit: int = 10_000) -> list[dict[str, Any]]:
        """Episodes that started in [since, until), with their alert's name and severity."""
        with self.store.transaction(write=False) as tx:
            rows = tx.fetchall(
                "SELECT e.*, a.alertname, a.severity, a.labels AS alert_labels FROM suppressed_episodes e "
                "JOIN alerts a ON a.id = e.alert_id WHERE e.started_at >= %s AND e.started_at < %s "
                "ORDER BY e.started_at, e.id LIMIT %s", (self.d.time_in(since), self.d.time_in(until), limit))
        out = []
        for r in rows:
            e = self._episode(r)
            e["alert_labels"] = self.d.json_out(r["alert_labels"]) or {}
            out.append(e)
        return out

    # ---- timeline reads ---------------------------------------------------------------------------
    def notifications_of(self, alert_id: int, tx: Transaction) -> list[dict[str, Any]]:
        """The alert's notification rows with the message each went out in (shape single/packed,
        the service's message ids, how many alerts the message named)."""
        d = self.d
        rows = tx.fetchall(
            "SELECT n.id, n.channel, n.destination, n.kind, n.status, n.attempts, n.last_error, n.message_id, "
            "n.message_ref, n.created_at, n.updated_at, n.sent_at, m.shape, m.remote_ids, "
            "(SELECT count(DISTINCT o.alert_id) FROM notifications o WHERE o.message_ref = n.message_ref "
            " AND o.alert_id IS NOT NULL) AS message_alerts "
            "FROM notifications n LEFT JOIN messages m ON m.id = n.message_ref WHERE n.alert_id = %s ORDER BY n.id",
            (alert_id,))
        out = []
        for r in rows:
            r = dict(r)
            for c in ("created_at", "updated_at", "sent_at"):
                r[c] = d.time_out(r[c])
            r["remote_ids"] = (
                [str(x) for x in (d.json_out(r["remote_ids"]) or [])] if r["remote_ids"] is not None else []
            )
            r["message_alerts"] = int(r["message_alerts"] or 0)
            out.append(r)
        return out

    # ---- leases: one process runs each history job at a time ---------------------------------------
    def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take or renew the lease on job `name`; False while another live process holds it."""
        d = self.d
        with self.store.transaction() as tx:
            row = tx.fetchone(
                "INSERT INTO history_leases (name, owner, lease_until) VALUES (%s, %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until "
                "WHERE history_leases.owner = excluded.owner OR history_leases.lease_until IS NULL "
                "OR history_leases.lease_until < %s RETURNING owner",
                (name, owner, d.time_in(tx.now + timedelta(seconds=seconds)), d.time_in(tx.now)))
        return row is not None and row["owner"] == owner

    def release_lease(self, name: str, owner: str) -> None:
        with self.store.transaction() as tx:
            tx.execute("UPDATE history_leases SET lease_until = NULL WHERE name = %s AND owner = %s", (name, owner))

    # ---- conversions -------------------------------------------------------------------------------
    def _alert(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return self.store._alert_out(row)

    def _episode(self, row: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for c in _EPISODE_TIME_COLS:
            if c in out:
                out[c] = self.d.time_out(out[c])
        if out.get("inhibiting_labels") is not None:
            out["inhibiting_labels"] = self.d.json_out(out["inhibiting_labels"])
        return out


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None
