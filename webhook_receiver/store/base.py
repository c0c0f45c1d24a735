"""The alert history store shared by the SQLite and PostgreSQL backends.

SQL is written once with `%s` placeholders; a small `Dialect` converts placeholders, times, JSON
and booleans for each backend. Backends implement connection handling, migrations and the batched
ingest (the parts whose best form differs). The store owns alerts, acknowledgements, silences and
the raw payload audit; the notification outbox (same database, own tables) is
`webhook_receiver.notify.outbox`, which reaches the database through `transaction()`.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from vocabulary import AlertStatus

from ..errors import NotFoundError, QueryError
from ..payload import ParsedAlert, WebhookPayload
from .changes import AlertChange, ChangeKind, IngestHook, no_hook
from .migrations import MIGRATIONS, latest_version

__all__ = [
    "AlertQuery",
    "AlertStore",
    "Dialect",
    "IngestJob",
    "IngestResult",
    "Transaction",
    "utcnow",
    "ms_floor",
    "in_lists",
    "ORIGIN_POLLED",
]

ALERT_TIME_COLS = ("starts_at", "timestamp", "last_received_at", "ends_at", "acknowledged_at", "silenced_until",
                   "reconciled_at", "am_last_seen_at", "silenced_at")
ALERT_JSON_COLS = ("labels", "annotations", "metadata")
PAYLOAD_TIME_COLS = ("received_at",)

ALERT_COLUMNS = (
    'id, fingerprint, starts_at, alertname, status, severity, source, title, message, labels, '
    'annotations, metadata, "timestamp", last_received_at, ends_at, receive_count, acknowledged, '
    'acknowledged_at, acknowledged_by, ack_comment, silenced_until, silence_id, silenced_at, reconciled_at, '
    'am_last_seen_at, origin, reminders_sent, escalations_sent, last_comment, last_comment_by'
)

# `origin` of an alert first stored from Alertmanager's API (suppressed from the start, so no
# webhook told us); such a row keeps Alertmanager's millisecond startsAt as its key, and a webhook
# for the same occurrence (nanoseconds, under a millisecond later) joins it like another replica's
# start would (`AlertStore._same_occurrence`).
ORIGIN_POLLED = "alertmanager"


def ms_floor(dt: datetime) -> datetime:
    """Alertmanager's API gives times to the millisecond, its webhooks to the nanosecond."""
    return dt.replace(microsecond=dt.microsecond - dt.microsecond % 1000)


# Prometheus replicas (HA) each stamp `startsAt` with their own evaluation time, and Alertmanager
# keeps the earliest it has seen, so the same alert can reach us first with one replica's start and
# later with another's. While an occurrence of a fingerprint is firing, another start within this
# window is the same occurrence (Alertmanager holds one alert per fingerprint), not a new one.
REPLICA_START_WINDOW = timedelta(minutes=10)


def utcnow() -> datetime:
    return datetime.now(UTC)


T = TypeVar("T")


def in_lists(values: Sequence[T], size: int = 500) -> Iterator[tuple[list[T], str]]:
    """`values` in slices for `IN (...)` lists, each with its placeholders (`%s, %s, ...`): a few
    hundred per statement keeps any list within every backend's parameter limit (PostgreSQL: 65535)."""
    for i in range(0, len(values), size):
        chunk = list(values[i:i + size])
        yield chunk, ", ".join(["%s"] * len(chunk))


class Dialect:
    """Per-backend conversions. The base class is PostgreSQL (psycopg adapts natively).

    The SQL that differs between backends is a template per dialect (`{later}`, `{column}`, ...)."""

    name = "postgresql"
    #: seconds from `earlier` to `later` (two SQL time expressions)
    SECONDS_BETWEEN = "EXTRACT(EPOCH FROM ({later} - {earlier}))"
    #: `column` (a JSON object) with `key` set to the text parameter `%s`
    JSON_SET_TEXT = "{column} || jsonb_build_object('{key}', %s::text)"
    #: `column` (a JSON object) without `key`
    JSON_WITHOUT = "{column} - '{key}'"

    def sql(self, text: str) -> str:
        return text

    def time_in(self, dt: datetime | None) -> Any:
        return dt

    def time_out(self, v: Any) -> datetime | None:
        if v is None or isinstance(v, datetime):  # psycopg reads timestamptz as aware datetimes
            return v
        raise TypeError(f"not a time: {type(v).__name__}")

    def json_in(self, obj: Any) -> Any:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))

    def json_out(self, v: Any) -> Any:
        return json.loads(v) if isinstance(v, str) else v

    def seconds_between(self, later: str, earlier: str) -> str:
        return self.SECONDS_BETWEEN.format(later=later, earlier=earlier)

    def json_set_text(self, column: str, key: str) -> str:
        return self.JSON_SET_TEXT.format(column=column, key=key)

    def json_without(self, column: str, key: str) -> str:
        return self.JSON_WITHOUT.format(column=column, key=key)


class Transaction:
    """One open transaction. Planners use `execute`/`fetchall` with `%s` placeholders."""

    def __init__(self, conn: Any, dialect: Dialect, now: datetime | None = None) -> None:
        self.conn = conn
        self.dialect = dialect
        self.now = now or utcnow()

    @property
    def backend(self) -> str:
        return self.dialect.name

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        return self.conn.execute(self.dialect.sql(sql), params)

    def fetchall(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[dict[str, Any]]:
        cur = self.execute(sql, params)
        return [dict(r) for r in cur.fetchall()]

    def fetchone(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> dict[str, Any] | None:
        row = self.execute(sql, params).fetchone()
        return dict(row) if row is not None else None


# an alert active in a window [since, until): started before its end and not ended before its start
# (firing alerts have no end); the firing ones and the ones ended since the window's start each have an index
ACTIVE_UNTIL = "starts_at < %s"
ACTIVE_SINCE = "(status = 'firing' OR ends_at >= %s)"


@dataclass(frozen=True)
class AlertQuery:
    """Filters for `list_alerts`; `cursor` is (starts_at, id) of the last row of the previous page.

    `since`/`until` select alerts that started in [since, until); with `active`, alerts active in it
    (started before `until` and not ended before `since`: an alert firing for two days is in the last
    hour)."""

    since: datetime | None = None
    until: datetime | None = None
    active: bool = False
    severities: tuple[str, ...] = ()
    source: str | None = None
    status: str | None = None
    acknowledged: bool | None = None
    alertname: str | None = None
    limit: int = 100
    cursor: tuple[datetime, int] | None = None


@dataclass(frozen=True)
class IngestResult:
    payload_id: int
    changes: list[AlertChange] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.kind] = out.get(c.kind, 0) + 1
        return out


@dataclass(frozen=True)
class IngestJob:
    """One payload to store with its hook (`AlertStore.ingest_many`); `now` as in `ingest`."""

    payload: WebhookPayload
    hook: IngestHook = no_hook
    now: datetime | None = None


def disjoint_rounds(jobs: Sequence[IngestJob]) -> list[list[IngestJob]]:
    """`jobs` cut, in order, into runs whose payloads share no fingerprint: a payload that repeats one
    of an earlier payload's fingerprints (another Alertmanager's copy of the same group) starts a new
    run, stored after the earlier one as if it had come later on its own."""
    rounds: list[list[IngestJob]] = []
    seen: set[str] = set()
    for job in jobs:
        fps = {a.fingerprint for a in job.payload.alerts}
        if not rounds or fps & seen:
            rounds.append([])
            seen = set()
        rounds[-1].append(job)
        seen |= fps
    return rounds


def dedupe_alerts(alerts: Iterable[ParsedAlert]) -> list[ParsedAlert]:
    """One entry per (fingerprint, starts_at) in a payload; a resolved copy wins over a firing one."""
    seen: dict[tuple[str, datetime], ParsedAlert] = {}
    for a in alerts:
        key = (a.fingerprint, a.starts_at)
        prev = seen.get(key)
        if prev is None or not (prev.status == AlertStatus.RESOLVED and a.status == AlertStatus.FIRING):
            seen[key] = a
    return list(seen.values())


def alert_metadata(a: ParsedAlert, p: WebhookPayload) -> dict[str, Any]:
    return {
        "generatorURL": a.generator_url,
        "receiver": p.receiver,
        "groupKey": p.group_key,
        "externalURL": p.external_url,
    }


def classify(old_status: str | None, old_annotations: Any, a: ParsedAlert,
             old_receive_count: int | None = None) -> ChangeKind:
    if old_status is None:
        return "new"
    if old_receive_count == 0 and old_status == AlertStatus.FIRING:
        # known until now only from Alertmanager's API (it was suppressed): its first webhook is
        # the first time it is told, so it is new to the notifications
        return "new"
    if old_status == AlertStatus.FIRING and a.status == AlertStatus.RESOLVED:
        return "resolved"
    if old_status == AlertStatus.FIRING and old_annotations != a.annotations:
        return "updated"
    return "unchanged"


class AlertStore(ABC):
    """Alerts, acknowledgements, silences and raw payloads on one backend."""

    dialect: Dialect

    # ---- connection handling (backend) ----
    @abstractmethod
    def transaction(self, write: bool = True) -> AbstractContextManager[Transaction]:
        """Open a transaction; commits on success, rolls back on error. Storage failures raise
        `StorageUnavailable`."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def ping(self) -> None:
        """Raise `StorageUnavailable` unless storage answers a trivial query."""

    @abstractmethod
    def _ingest_rows(
        self, tx: Transaction, payload: WebhookPayload, alerts: list[ParsedAlert]
    ) -> tuple[int, list[AlertChange]]:
        """Insert the raw payload and upsert its alerts; return (payload id, changes)."""

    # ---- migrations ----
    @abstractmethod
    def _applied_versions(self) -> list[int]: ...

    @abstractmethod
    def _apply(self, version: int, name: str, sql: str) -> None: ...

    def current_version(self) -> int:
        versions = self._applied_versions()
        return max(versions) if versions else 0

    def migrate(self) -> list[int]:
        """Apply every pending migration in order; return the versions applied now."""
        done = set(self._applied_versions())
        applied = []
        for m in MIGRATIONS:
            if m.version not in done:
                self._apply(m.version, m.name, getattr(m, self.dialect.name))
                applied.append(m.version)
        return applied

    def pending_versions(self) -> list[int]:
        done = set(self._applied_versions())
        return [m.version for m in MIGRATIONS if m.version not in done]

    latest_version = staticmethod(latest_version)

    # ---- ingest ----
    def _lock_fingerprints(self, tx: Transaction, fingerprints: list[str]) -> None:
        """Serialise ingests that touch the same fingerprints (several receivers, several HA
        Alertmanagers posting at once). A backend with one writer at a time needs nothing."""
        return None

    def _same_occurrence(self, tx: Transaction, alerts: list[ParsedAlert]) -> list[ParsedAlert]:
        """Give an alert the start of the occurrence it belongs to when another Prometheus replica
        stamped it (see REPLICA_START_WINDOW): no stored row has its exact (fingerprint, startsAt),
        but an occurrence of that fingerprint started within the window and had not ended by this
        start (still firing, or resolved later than it): the nearest such occurrence. A start after
        an occurrence ended is a new occurrence. This also joins a webhook's nanosecond start to the
        row the reconciler stored from Alertmanager's API with the millisecond start (`ORIGIN_POLLED`),
        so the backends look up exact (fingerprint, startsAt) keys only."""
        d = self.dialect
        fps = sorted({a.fingerprint for a in alerts})
        first = min(a.starts_at for a in alerts)
        try:
            earliest = first - REPLICA_START_WINDOW
        except OverflowError:  # a start in the year 1 (Go's zero time and its neighbours)
            earliest = datetime.min.replace(tzinfo=UTC)
        known: dict[str, list[tuple[datetime, datetime | None]]] = {}
        for chunk, marks in in_lists(fps):
            # firing, or started since `earliest`; written as NOT (... AND ...) because SQLite turns
            # `status = 'firing' OR starts_at >= %s` into an OR over two indexes, the first of which
            # reads every firing alert on every ingest (not just these fingerprints)
            for r in tx.fetchall(
                    f"SELECT fingerprint, starts_at, ends_at, status FROM alerts WHERE fingerprint IN ({marks}) "
                    f"AND NOT (status <> 'firing' AND starts_at < %s)", (*chunk, d.time_in(earliest))):
                start = d.time_out(r["starts_at"])
                if start is not None:
                    ends = None if r["status"] == "firing" else d.time_out(r["ends_at"])
                    known.setdefault(r["fingerprint"], []).append((start, ends))
        out = []
        for a in alerts:
            rows = known.get(a.fingerprint, [])
            if rows and not any(start == a.starts_at for start, _ in rows):
                near = [start for start, ends in rows if abs(start - a.starts_at) <= REPLICA_START_WINDOW
                        and (ends is None or a.starts_at < ends)]
                if near:
                    a = replace(a, starts_at=min(near, key=lambda s: abs(s - a.starts_at)))
            out.append(a)
        return out

    def ingest(
        self, payload: WebhookPayload, hook: IngestHook | None = None, now: datetime | None = None
    ) -> IngestResult:
        """Store one payload in one transaction: raw body, alert upserts, then `hook` (the
        notification outbox planner) with the changes.

        Nothing is visible (and the caller must not answer 200) unless this returns.
        """
        hook = hook or no_hook
        alerts = payload.alerts
        with self.transaction() as tx:
            if now is not None:
                tx.now = now
            if alerts:
                self._lock_fingerprints(tx, sorted({a.fingerprint for a in alerts}))
                # deduplicated after the mapping: two replicas' starts of one occurrence in one
                # payload are one alert (PostgreSQL's upsert cannot touch a row twice)
                alerts = dedupe_alerts(self._same_occurrence(tx, alerts))
            payload_id, changes = self._ingest_rows(tx, payload, alerts)
            hook(tx, changes, payload)
        return IngestResult(payload_id, changes)

    def ingest_many(self, jobs: Sequence[IngestJob]) -> list[IngestResult]:
        """Store several payloads in ONE transaction (group commit: `group_commit.GroupCommit` batches
        the payloads of concurrent requests), each exactly as `ingest` would store it alone, in order.
        One commit makes them all durable at once; a failure rolls every one of them back, so the
        caller answers none of them 200 unless this returns."""
        with self.transaction() as tx:
            fps = sorted({a.fingerprint for j in jobs for a in j.payload.alerts})
            if fps:
                self._lock_fingerprints(tx, fps)  # every lock of the batch at once, in one order
            out: list[IngestResult] = []
            for run in disjoint_rounds(jobs):
                out += self._ingest_round(tx, run)
        return out

    def _ingest_round(self, tx: Transaction, jobs: list[IngestJob]) -> list[IngestResult]:
        """Payloads that share no fingerprint, in one transaction: their stored occurrences read at
        once (`_same_occurrence`), then each payload as `ingest` stores it. A backend may store the
        round in fewer statements (PostgreSQL: one)."""
        mapped = self._round_alerts(tx, jobs)
        out: list[IngestResult] = []
        for job, alerts in zip(jobs, mapped):
            tx.now = job.now or utcnow()
            payload_id, changes = self._ingest_rows(tx, job.payload, alerts)
            job.hook(tx, changes, job.payload)
            out.append(IngestResult(payload_id, changes))
        return out

    def _round_alerts(self, tx: Transaction, jobs: list[IngestJob]) -> list[list[ParsedAlert]]:
        """Each payload's alerts as `ingest` stores them: joined to the occurrence they belong to,
        then deduplicated (one read of the stored occurrences for the whole round)."""
        every = [a for j in jobs for a in j.payload.alerts]
        if not every:
            return [[] for _ in jobs]
        joined = iter(self._same_occurrence(tx, every))
        return [dedupe_alerts([next(joined) for _ in j.payload.alerts]) if j.payload.alerts else [] for j in jobs]

    # ---- reads ----
    def _alert_out(self, row: Mapping[str, Any]) -> dict[str, Any]:
        d = self.dialect
        out = dict(row)
        for c in ALERT_TIME_COLS:
            if c in out:
                out[c] = d.time_out(out[c])
        for c in ALERT_JSON_COLS:
            if c in out:
                out[c] = d.json_out(out[c])
        if "acknowledged" in out:
            out["acknowledged"] = bool(out["acknowledged"])
        return out

    def list_alerts(self, q: AlertQuery) -> list[dict[str, Any]]:
        """Alerts matching `q`, newest first by (starts_at, id)."""
        d = self.dialect
        where: list[str] = []
        params: list[Any] = []
        # (condition, its parameter) of each filter given
        given = [("starts_at >= %s" if not q.active else ACTIVE_SINCE,
                  d.time_in(q.since) if q.since is not None else None),
                 ("starts_at < %s" if not q.active else ACTIVE_UNTIL,
                  d.time_in(q.until) if q.until is not None else None),
                 ("source = %s", q.source), ("status = %s", q.status), ("alertname = %s", q.alertname),
                 ("acknowledged = %s", q.acknowledged)]
        for condition, value in given:
            if value is not None:
                where.append(condition)
                params.append(value)
        if q.severities:
            where.append("severity IN (" + ", ".join(["%s"] * len(q.severities)) + ")")
            params.extend(q.severities)
        if q.cursor is not None:
            where.append("(starts_at, id) < (%s, %s)")
            params.extend([d.time_in(q.cursor[0]), q.cursor[1]])
        sql = f"SELECT {ALERT_COLUMNS} FROM alerts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY starts_at DESC, id DESC LIMIT %s"
        params.append(q.limit)
        with self.transaction(write=False) as tx:
            return [self._alert_out(r) for r in tx.fetchall(sql, params)]

    def iter_alert_pages(self, query: AlertQuery, max_rows: int, page: int = 1000) -> Iterator[list[dict[str, Any]]]:
        """`list_alerts(query)` in pages (newest first, by cursor), at most `max_rows` rows in all."""
        cursor = query.cursor
        left = max_rows
        while left > 0:
            q = replace(query, limit=min(page, left), cursor=cursor)
            rows = self.list_alerts(q)
            if not rows:
                return
            yield rows
            left -= len(rows)
            if len(rows) < q.limit:
                return
            cursor = (rows[-1]["starts_at"], rows[-1]["id"])

    def get_alert(self, alert_id: int, tx: Transaction | None = None) -> dict[str, Any] | None:
        """One alert; None when absent."""
        if tx is not None:
            row = tx.fetchone(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = %s", (alert_id,))
            return self._alert_out(row) if row is not None else None
        with self.transaction(write=False) as own:
            return self.get_alert(alert_id, own)

    def get_alerts(self, alert_ids: Iterable[int], tx: Transaction | None = None) -> dict[int, dict[str, Any]]:
        """Several alerts by id (missing ids are absent from the result)."""
        ids = sorted({int(i) for i in alert_ids})
        if not ids:
            return {}
        if tx is None:
            with self.transaction(write=False) as own:
                return self.get_alerts(ids, own)
        out: dict[int, dict[str, Any]] = {}
        for chunk, marks in in_lists(ids):
            for r in tx.fetchall(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id IN ({marks})", chunk):
                out[int(r["id"])] = self._alert_out(r)
        return out

    def find_alert(self, fingerprint: str, starts_at: datetime) -> dict[str, Any] | None:
        with self.transaction(write=False) as tx:
            row = tx.fetchone(
                f"SELECT {ALERT_COLUMNS} FROM alerts WHERE fingerprint = %s AND starts_at = %s",
                (fingerprint, self.dialect.time_in(starts_at)),
            )
            return self._alert_out(row) if row else None

    def count(self, table: str) -> int:
        if table not in ("alerts", "webhook_payloads", "notifications"):
            raise ValueError(f"unknown table {table!r}")
        with self.transaction(write=False) as tx:
            row = tx.fetchone(f"SELECT count(*) AS n FROM {table}")
            return int(row["n"]) if row else 0

    def list_payloads(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.transaction(write=False) as tx:
            rows = tx.fetchall("SELECT * FROM webhook_payloads ORDER BY id DESC LIMIT %s", (limit,))
        for r in rows:
            r["received_at"] = self.dialect.time_out(r["received_at"])
        return rows

    # ---- acknowledgement and silences ----
    def ack_alert(self, alert_id: int, by: str, comment: str | None = None, at: datetime | None = None,
                  tx: Transaction | None = None) -> bool:
        """Acknowledge; the first acknowledgement wins. Returns whether this call changed the alert.
        Raises NotFoundError for an unknown id. With `tx`, runs inside that transaction (so the
        caller can queue its notification edits atomically: `webhook_receiver.notify.actions`)."""
        if tx is None:
            with self.transaction() as own:
                return self.ack_alert(alert_id, by, comment, at, own)
        d = self.dialect
        at = at or tx.now
        cur = tx.execute(
            "UPDATE alerts SET acknowledged = %s, acknowledged_at = %s, acknowledged_by = %s, "
            "ack_comment = %s WHERE id = %s AND acknowledged = %s RETURNING id",
            (True, d.time_in(at), by, comment, alert_id, False),
        )
        if cur.fetchall():
            return True
        if tx.fetchone("SELECT id FROM alerts WHERE id = %s", (alert_id,)) is None:
            raise NotFoundError(f"alert {alert_id} not found")
        return False

    def set_silence(self, alert_id: int, silence_id: str, until: datetime, tx: Transaction | None = None) -> bool:
        """Record the Alertmanager silence covering this alert. Returns False for an unknown id."""
        if tx is None:
            with self.transaction() as own:
                return self.set_silence(alert_id, silence_id, until, own)
        cur = tx.execute(
            "UPDATE alerts SET silence_id = %s, silenced_until = %s, silenced_at = %s WHERE id = %s RETURNING id",
            (silence_id, self.dialect.time_in(until), self.dialect.time_in(tx.now), alert_id),
        )
        return bool(cur.fetchall())

    # ---- statistics ----
    def stats(self, since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
        """Counts by severity, source and status of the alerts active in [since, until) (started before
        `until`, not ended before `since`; either bound absent: open on that side, both: everything
        stored), so `by_status.firing` counts what fires now when the window ends now; mean seconds from
        start to acknowledgement and from start to resolve."""
        d = self.dialect
        conds: list[str] = []
        params: list[Any] = []
        if until is not None:
            conds.append(ACTIVE_UNTIL)
            params.append(d.time_in(until))
        if since is not None:
            conds.append(ACTIVE_SINCE)
            params.append(d.time_in(since))
        w = " WHERE " + " AND ".join(conds) if conds else ""
        ack = d.seconds_between("acknowledged_at", "starts_at")
        res = d.seconds_between("ends_at", "starts_at")
        resolved = "status = 'resolved' AND ends_at IS NOT NULL"
        # one pass over the window (a few dozen groups), summed up here: a window by activity holds every
        # alert still firing, so four queries would read them four times
        with self.transaction(write=False) as tx:
            rows = tx.fetchall(
                f"SELECT severity, source, status, count(*) AS n, "
                f"sum(CASE WHEN acknowledged = %s THEN 1 ELSE 0 END) AS acked, "
                f"sum(CASE WHEN acknowledged_at IS NOT NULL THEN {ack} END) AS ack_sum, "
                f"count(acknowledged_at) AS ack_n, "
                f"sum(CASE WHEN {resolved} THEN {res} END) AS res_sum, "
                f"sum(CASE WHEN {resolved} THEN 1 ELSE 0 END) AS res_n "
                f"FROM alerts{w} GROUP BY severity, source, status",
                (True, *params),
            )
        out: dict[str, Any] = {"by_severity": {}, "by_source": {}, "by_status": {}}
        sums = {"n": 0, "acked": 0, "ack_sum": 0.0, "ack_n": 0, "res_sum": 0.0, "res_n": 0}
        for r in rows:
            for col in ("severity", "source", "status"):
                counts = out[f"by_{col}"]
                counts[r[col]] = counts.get(r[col], 0) + int(r["n"])
            for k in sums:
                sums[k] += float(r[k] or 0) if k.endswith("_sum") else int(r[k] or 0)
        out["total"] = int(sums["n"])
        out["acknowledged"] = int(sums["acked"])
        out["mean_time_to_acknowledge_seconds"] = sums["ack_sum"] / sums["ack_n"] if sums["ack_n"] else None
        out["mean_time_to_resolve_seconds"] = sums["res_sum"] / sums["res_n"] if sums["res_n"] else None
        return out

    @staticmethod
    def validate_limit(limit: int, max_limit: int) -> int:
        if not 1 <= limit <= max_limit:
            raise QueryError("limit", f"must be between 1 and {max_limit}")
        return limit

