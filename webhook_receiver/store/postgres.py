"""PostgreSQL backend: psycopg 3 with a connection pool.

Ingest: the payload's fingerprints locked (advisory locks) and their stored occurrences read
(`AlertStore.ingest`: another replica's start joins its occurrence), then one statement for the
payload (raw payload insert + batched upsert of every alert via UNNEST, returning each alert's
previous state), then the ingest hook, then one durable commit. The webhook route stores through
group commit (`AlertStore.ingest_many`): the payloads of concurrent requests in one transaction,
their locks taken in one statement, their occurrences read in one, and each run of payloads that
share no fingerprint stored by ONE statement (`_ROUND_SQL`: the payload rows and every alert's
upsert, the rows given as one JSON document), then each payload's hook, then one commit for all.

Outages: a short checkout timeout (`pool_timeout`, RECEIVER_DB_POOL_TIMEOUT) bounds how long a
request waits for a connection, and a circuit breaker (`breaker.CircuitBreaker`) answers 503 at once
while the database is known to be down (a connection found broken, connects failing, no connection
within the checkout timeout), probing it in the background with a fresh connection and draining the
pool when it is back. A value PostgreSQL refuses as data (NUL in text, a bad `\\u` escape in jsonb,
a number out of range) is `UnstorableInput` (400), never a 500.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from ..errors import StorageUnavailable, UnstorableInput
from ..payload import ParsedAlert, WebhookPayload
from ..settings import redact_url
from .base import AlertStore, Dialect, IngestJob, IngestResult, Transaction, alert_metadata, classify, utcnow
from .breaker import CircuitBreaker
from .changes import AlertChange

__all__ = ["PostgresStore"]

# Only these mean "storage unavailable, retry later"; programming errors stay errors.
_UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, PoolClosed)
# The backend refused a value as data: the client's fault (400), not an outage. DataError covers
# NUL in text (raised client-side), bad jsonb escapes, numbers and times out of range.
_REFUSED = (psycopg.DataError, UnicodeEncodeError)
_MIGRATION_CHECKOUT_S = 5.0  # migrations at start-up may wait for the first connection

_MIGRATION_LOCK = 7_607_607  # pg_advisory_xact_lock key: one migrator at a time


class PostgresDialect(Dialect):
    name = "postgresql"

    def json_in(self, obj: Any) -> Any:
        return Jsonb(obj)


def _upsert_alerts(now: str) -> str:
    """The CTE body that inserts the alerts `given`, or merges each into the row of the same
    (fingerprint, starts_at): a resolved row stays resolved and keeps its texts. `now` is the SQL of the
    time received (a parameter, or a column of `given`)."""
    return _UPSERT_ALERTS.replace("{now}", now)


_UPSERT_ALERTS = """
    INSERT INTO alerts AS a (fingerprint, starts_at, alertname, status, severity, source, title, message,
                             labels, annotations, metadata, "timestamp", last_received_at, ends_at,
                             receive_count, acknowledged)
    SELECT fingerprint, starts_at, alertname, status, severity, source, title, message, labels,
           annotations, metadata, {now}, {now},
           CASE WHEN status = 'resolved' THEN coalesce(ends_at, {now}) END, 1, FALSE
    FROM given
    ON CONFLICT (fingerprint, starts_at) DO UPDATE SET
        receive_count = a.receive_count + 1,
        last_received_at = EXCLUDED.last_received_at,
        status = CASE WHEN a.status = 'resolved' THEN 'resolved' ELSE EXCLUDED.status END,
        ends_at = CASE WHEN a.status = 'resolved' THEN a.ends_at ELSE EXCLUDED.ends_at END,
        annotations = CASE WHEN a.status = 'resolved' AND EXCLUDED.status = 'firing'
                           THEN a.annotations ELSE EXCLUDED.annotations END,
        title = CASE WHEN a.status = 'resolved' AND EXCLUDED.status = 'firing'
                     THEN a.title ELSE EXCLUDED.title END,
        message = CASE WHEN a.status = 'resolved' AND EXCLUDED.status = 'firing'
                       THEN a.message ELSE EXCLUDED.message END,
        metadata = CASE WHEN a.status = 'resolved' AND EXCLUDED.status = 'firing'
                        THEN a.metadata ELSE EXCLUDED.metadata END
    RETURNING a.id, a.fingerprint, a.starts_at, a.status, a.ends_at
"""


_INGEST_SQL = """
WITH p AS (
    INSERT INTO webhook_payloads (received_at, group_key, receiver, status, body, alert_count)
    VALUES (%(now)s, %(group_key)s, %(receiver)s, %(pstatus)s, %(body)s, %(count)s)
    RETURNING id
), given AS (
    SELECT * FROM unnest(
        %(fp)s::text[], %(sa)s::timestamptz[], %(st)s::text[], %(ea)s::timestamptz[],
        %(an)s::text[], %(sev)s::text[], %(src)s::text[], %(ti)s::text[], %(msg)s::text[],
        %(lab)s::jsonb[], %(ann)s::jsonb[], %(meta)s::jsonb[]
    ) AS t(fingerprint, starts_at, status, ends_at, alertname, severity, source, title, message,
           labels, annotations, metadata)
), old AS (
    SELECT a.id, a.status, a.annotations, a.receive_count
    FROM alerts a JOIN given g ON a.fingerprint = g.fingerprint AND a.starts_at = g.starts_at
), up AS (
""" + _upsert_alerts("%(now)s") + """)
SELECT (SELECT id FROM p) AS payload_id, up.id, up.fingerprint, up.starts_at, up.status, up.ends_at,
       old.status AS old_status, old.annotations AS old_annotations, old.receive_count AS old_receive_count
FROM up LEFT JOIN old ON old.id = up.id
"""


# A run of payloads that share no fingerprint, in one statement: `_INGEST_SQL` for several payloads,
# each alert row carrying its payload's ordinal and time. The payload ids are drawn first (`pin`), so
# each alert row finds its payload's; a payload without alerts still comes back (LEFT JOINs).
_ROUND_SQL = """
WITH pin AS MATERIALIZED (
    SELECT t.ord, nextval('webhook_payloads_id_seq'::regclass) AS id,
           t.received_at, t.group_key, t.receiver, t.status, t.body, t.alert_count
    FROM jsonb_to_recordset(%(payloads)s::jsonb) AS t(ord int, received_at timestamptz, group_key text,
                                                      receiver text, status text, body text, alert_count int)
), p AS (
    INSERT INTO webhook_payloads (id, received_at, group_key, receiver, status, body, alert_count)
    SELECT id, received_at, group_key, receiver, status, body, alert_count FROM pin
), given AS MATERIALIZED (
    SELECT * FROM jsonb_to_recordset(%(alerts)s::jsonb) AS t(
        ord int, now timestamptz, fingerprint text, starts_at timestamptz, status text, ends_at timestamptz,
        alertname text, severity text, source text, title text, message text, labels jsonb,
        annotations jsonb, metadata jsonb)
), old AS (
    -- one probe of the (fingerprint, starts_at) index per alert given (LIMIT 1 keeps the planner from
    -- hashing the whole table for what it guesses are 100 rows)
    SELECT o.id, o.status, o.annotations, o.receive_count
    FROM given g CROSS JOIN LATERAL (
        SELECT a.id, a.status, a.annotations, a.receive_count FROM alerts a
        WHERE a.fingerprint = g.fingerprint AND a.starts_at = g.starts_at LIMIT 1) o
), up AS (
""" + _upsert_alerts("now") + """)
SELECT pin.ord, pin.id AS payload_id, up.id, up.fingerprint, up.starts_at, up.status, up.ends_at,
       old.status AS old_status, old.annotations AS old_annotations, old.receive_count AS old_receive_count
FROM pin
LEFT JOIN given g ON g.ord = pin.ord
LEFT JOIN up ON up.fingerprint = g.fingerprint AND up.starts_at = g.starts_at
LEFT JOIN old ON old.id = up.id
"""


_PAYLOAD_ONLY_SQL = """
INSERT INTO webhook_payloads (received_at, group_key, receiver, status, body, alert_count)
VALUES (%(now)s, %(group_key)s, %(receiver)s, %(pstatus)s, %(body)s, %(count)s)
RETURNING id
"""


class PostgresStore(AlertStore):
    def __init__(
        self,
        url: str,
        pool_size: int = 16,
        pool_timeout: float = 1.0,
        connect_timeout: float = 3.0,
        probe_max_interval: float = 2.0,
    ) -> None:
        self.dialect = PostgresDialect()
        self.url = url
        self.pool_timeout = pool_timeout
        self.connect_timeout = max(2, int(connect_timeout))  # libpq treats 1 as 2
        self._conn_kwargs: dict[str, Any] = {
            "connect_timeout": self.connect_timeout,
            # a peer that vanished without a FIN/RST (host down, cable, NAT) is noticed in ~25 s
            "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
        }
        self.breaker = CircuitBreaker("postgresql", self._probe, self._recovered, max_interval=probe_max_interval)
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, pool_size),
            timeout=pool_timeout,
            open=False,
            kwargs={"row_factory": dict_row, **self._conn_kwargs},
            # Give up a failed (re)connect at once and tell the breaker: requests then get 503
            # immediately instead of each waiting for the checkout timeout. The pool grows again on
            # the next checkout, after the breaker's probe has seen the database back.
            reconnect_timeout=0,
            reconnect_failed=lambda pool: self.breaker.trip("cannot connect"),
            name="d76-receiver",
        )
        self.pool.open(wait=False)

    def __repr__(self) -> str:
        return f"PostgresStore({redact_url(self.url)!r})"

    @contextmanager
    def transaction(self, write: bool = True, timeout: float | None = None) -> Iterator[Transaction]:
        # No per-checkout health check (it costs a round trip per request): a connection broken
        # by an outage fails its statement (503, Alertmanager retries), trips the breaker, and the
        # pool drops it.
        self.breaker.check()
        checkout = timeout if timeout is not None else self.pool_timeout
        try:
            with self.pool.connection(timeout=checkout) as conn:
                try:
                    with conn.transaction():
                        yield Transaction(conn, self.dialect)
                except psycopg.OperationalError as exc:
                    if conn.broken or conn.closed:
                        self.breaker.trip(f"connection lost: {_short(exc)}")
                    raise
        except PoolTimeout as exc:
            self.breaker.trip(f"no connection within {checkout:g}s")
            raise StorageUnavailable(f"postgresql: no connection within {checkout:g}s") from exc
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(f"postgresql: {type(exc).__name__}: {_short(exc)}") from exc
        except _REFUSED as exc:
            raise UnstorableInput(f"postgresql refused a value: {_short(exc)}") from exc

    def ping(self, timeout: float | None = None) -> None:
        self.breaker.check()
        with self.transaction(write=False, timeout=timeout or min(self.pool_timeout, 2.0)) as tx:
            tx.execute("SELECT 1")

    def _probe(self) -> None:
        """One fresh connection and a trivial query (the breaker's background probe)."""
        with psycopg.connect(self.url, autocommit=True, **self._conn_kwargs) as conn:
            conn.execute("SELECT 1")

    def _recovered(self) -> None:
        self.pool.drain()  # connections from before the outage are dead: replace them all

    def close(self) -> None:
        self.breaker.shutdown()
        self.pool.close()

    # ---- migrations ----
    def _applied_versions(self) -> list[int]:
        with self.transaction(timeout=max(self.pool_timeout, _MIGRATION_CHECKOUT_S)) as tx:
            tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            return [r["version"] for r in tx.fetchall("SELECT version FROM schema_migrations ORDER BY version")]

    def _apply(self, version: int, name: str, sql: str) -> None:
        with self.transaction(timeout=max(self.pool_timeout, _MIGRATION_CHECKOUT_S)) as tx:
            tx.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            if tx.fetchone("SELECT 1 AS x FROM schema_migrations WHERE version = %s", (version,)):
                return  # another process applied it while we waited for the lock
            tx.conn.execute(sql)
            tx.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))

    # ---- ingest ----
    def _lock_fingerprints(self, tx: Transaction, fingerprints: list[str]) -> None:
        # transaction-scoped advisory locks, taken in one order (sorted) so two ingests cannot deadlock
        tx.execute("SELECT count(pg_advisory_xact_lock(hashtextextended(f, 7676))) "
                   "FROM (SELECT unnest(%s::text[]) AS f ORDER BY 1) s", (fingerprints,))

    def _ingest_rows(
        self, tx: Transaction, payload: WebhookPayload, alerts: list[ParsedAlert]
    ) -> tuple[int, list[AlertChange]]:
        params = {
            "now": tx.now, "group_key": payload.group_key, "receiver": payload.receiver,
            "pstatus": payload.status, "body": payload.raw, "count": len(payload.alerts),
            "fp": [a.fingerprint for a in alerts],
            "sa": [a.starts_at for a in alerts],
            "st": [a.status for a in alerts],
            "ea": [a.ends_at for a in alerts],
            "an": [a.alertname for a in alerts],
            "sev": [a.severity for a in alerts],
            "src": [a.source for a in alerts],
            "ti": [a.title for a in alerts],
            "msg": [a.message for a in alerts],
            "lab": [Jsonb(a.labels) for a in alerts],
            "ann": [Jsonb(a.annotations) for a in alerts],
            "meta": [Jsonb(alert_metadata(a, payload)) for a in alerts],
        }
        if not alerts:
            row = tx.fetchone(_PAYLOAD_ONLY_SQL, params)
            assert row is not None
            return int(row["id"]), []
        rows = tx.fetchall(_INGEST_SQL, params)
        by_key = {(r["fingerprint"], r["starts_at"]): r for r in rows}
        changes: list[AlertChange] = []
        payload_id = int(rows[0]["payload_id"])
        for a in alerts:
            r = by_key[(a.fingerprint, a.starts_at)]
            changes.append(
                AlertChange(
                    alert_id=int(r["id"]),
                    kind=classify(r["old_status"], r["old_annotations"], a, r["old_receive_count"]),
                    fingerprint=a.fingerprint,
                    starts_at=a.starts_at,
                    status=r["status"],
                    alertname=a.alertname,
                    severity=a.severity,
                    source=a.source,
                    labels=a.labels,
                    annotations=a.annotations,
                    ends_at=r["ends_at"],
                    generator_url=a.generator_url,
                )
            )
        return payload_id, changes


    def _ingest_round(self, tx: Transaction, jobs: list[IngestJob]) -> list[IngestResult]:
        mapped = self._round_alerts(tx, jobs)
        nows = [job.now or utcnow() for job in jobs]
        payloads = [{"ord": i, "received_at": _iso(now), "group_key": job.payload.group_key,
                     "receiver": job.payload.receiver, "status": job.payload.status, "body": job.payload.raw,
                     "alert_count": len(job.payload.alerts)} for i, (job, now) in enumerate(zip(jobs, nows))]
        alerts = [{"ord": i, "now": _iso(now), "fingerprint": a.fingerprint, "starts_at": _iso(a.starts_at),
                   "status": a.status, "ends_at": _iso(a.ends_at), "alertname": a.alertname, "severity": a.severity,
                   "source": a.source, "title": a.title, "message": a.message, "labels": a.labels,
                   "annotations": a.annotations, "metadata": alert_metadata(a, job.payload)}
                  for i, (job, now, given) in enumerate(zip(jobs, nows, mapped)) for a in given]
        rows = tx.fetchall(_ROUND_SQL, {"payloads": _json(payloads), "alerts": _json(alerts)})
        payload_ids: dict[int, int] = {}
        by_key: dict[tuple[str, datetime], dict[str, Any]] = {}
        for r in rows:
            payload_ids[int(r["ord"])] = int(r["payload_id"])
            if r["id"] is not None:
                by_key[(r["fingerprint"], r["starts_at"])] = r
        out: list[IngestResult] = []
        for i, (job, given) in enumerate(zip(jobs, mapped)):
            tx.now = nows[i]
            changes: list[AlertChange] = []
            for a in given:
                r = by_key[(a.fingerprint, a.starts_at)]
                kind = classify(r["old_status"], r["old_annotations"], a, r["old_receive_count"])
                changes.append(AlertChange(
                    alert_id=int(r["id"]), kind=kind,
                    fingerprint=a.fingerprint, starts_at=a.starts_at, status=r["status"], alertname=a.alertname,
                    severity=a.severity, source=a.source, labels=a.labels, annotations=a.annotations,
                    ends_at=r["ends_at"], generator_url=a.generator_url))
            job.hook(tx, changes, job.payload)
            out.append(IngestResult(payload_ids[i], changes))
        return out


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


def _json(rows: list[dict[str, Any]]) -> str:
    """The rows of a round as one JSON text (PostgreSQL parses it; one parameter instead of an array
    per column, which psycopg would build element by element in Python)."""
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def _short(exc: BaseException) -> str:
    """First line of a driver error, which never contains the password (psycopg omits it)."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
