"""SQLite backend: the embedded default. WAL mode, synchronous=FULL (commits survive power loss),
a busy timeout, one connection per thread, and one writer at a time (BEGIN IMMEDIATE plus an
in-process lock so threads queue instead of spinning on SQLITE_BUSY).

Failures: a database that is locked by another process past the busy timeout, read-only, on a
full or failing disk, or not a database at all is `StorageUnavailable` (503, Alertmanager
retries); so is waiting longer than the busy timeout for the in-process writer lock. A value SQLite
cannot hold (a lone surrogate, an integer beyond 64 bits, NUL, which PostgreSQL refuses, so both
backends agree) is `UnstorableInput` (400)."""
from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vocabulary import AlertStatus

from ..errors import StorageUnavailable, UnstorableInput
from ..payload import ParsedAlert, WebhookPayload
from ..storable import clean_tree
from .base import AlertStore, Dialect, Transaction, alert_metadata, classify, utcnow
from .changes import AlertChange, ChangeKind

__all__ = ["SQLiteStore", "SQLiteDialect"]

# Storage failures (503): locked, read-only, I/O error, disk full (OperationalError); "file is not
# a database" / corrupt (plain DatabaseError); use after close (ProgrammingError).
_UNAVAILABLE = (sqlite3.OperationalError, sqlite3.ProgrammingError)
# Values SQLite cannot bind (400).
_REFUSED = (UnicodeEncodeError, OverflowError, sqlite3.DataError)


class SQLiteDialect(Dialect):
    name = "sqlite"
    SECONDS_BETWEEN = "((julianday({later}) - julianday({earlier})) * 86400.0)"
    JSON_SET_TEXT = "json_set({column}, '$.{key}', %s)"
    JSON_WITHOUT = "json_remove({column}, '$.{key}')"

    def sql(self, text: str) -> str:
        return text.replace("%s", "?")

    def time_in(self, dt: datetime | None) -> Any:
        # Not strftime("%Y"): glibc does not pad years below 1000 ("1-01-01..."), which neither
        # sorts as text nor parses back; Alertmanager's zero time is year 1.
        if dt is None:
            return None
        return dt.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")

    def time_out(self, v: Any) -> datetime | None:
        if v is None or isinstance(v, datetime):
            return v
        try:
            return datetime.fromisoformat(v)
        except ValueError:  # a row written before the padding fix: "1-01-01T00:00:00.000000Z"
            year, sep, rest = v.partition("-")
            if not (sep and year.isdigit()):
                raise
            return datetime.fromisoformat(f"{int(year):04d}-{rest}")

    def json_in(self, obj: Any) -> Any:
        text = super().json_in(obj)
        if "\\u0000" in text and clean_tree(obj) != obj:  # cheap test first; rare walk after
            raise UnstorableInput("sqlite: NUL in a JSON value (PostgreSQL refuses it too)")
        return text


class _SQLiteTransaction(Transaction):
    """Refuses NUL in text parameters like PostgreSQL does, so the backends agree."""

    def execute(self, sql: str, params: Any = ()) -> Any:
        values = params.values() if isinstance(params, dict) else params
        for v in values:
            if isinstance(v, str) and "\x00" in v:
                raise UnstorableInput("sqlite: NUL in a text value (PostgreSQL refuses it too)")
        return super().execute(sql, params)


def path_from_url(url: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise ValueError("SQLite URL must look like sqlite:///relative/path or sqlite:////absolute/path")
    rest = url[len("sqlite:///"):]
    if not rest or rest == ":memory:":
        raise ValueError("SQLite URL needs a file path (in-memory databases are per connection)")
    return Path(rest)


def private_files(path: Path) -> bool:
    """Make the history file and its -wal/-shm readable by their owner only (0600), like the database
    URL file of a stack: the history holds who acknowledged what and the chat ids. The file is created
    0600 when missing (SQLite then creates its -wal and -shm with the same mode); group and other
    bits are removed from existing ones. True once done (an unwritable folder is left to connect()
    to report)."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError:
        return False
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(os.stat(p).st_mode)
            if mode & 0o077:
                os.chmod(p, mode & 0o700)
        except OSError:  # not there (yet), or not ours to change
            continue
    return True


class SQLiteStore(AlertStore):
    def __init__(self, url: str, busy_timeout_ms: int = 5000) -> None:
        self.dialect = SQLiteDialect()
        self.path = path_from_url(url)
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._all: list[tuple[sqlite3.Connection, threading.Lock]] = []
        self._closed = False
        self._all_lock = threading.Lock()
        self._private = False

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    def _conn(self) -> tuple[sqlite3.Connection, threading.Lock]:
        """This thread's connection and its lock. The lock lets `close()` (called from another
        thread) wait until the connection is idle: closing a connection mid-statement crashes."""
        if self._closed:
            raise StorageUnavailable("sqlite: store is closed")
        entry = getattr(self._local, "entry", None)
        if entry is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if not self._private:
                    self._private = private_files(self.path)
                conn = sqlite3.connect(
                    str(self.path), timeout=self.busy_timeout_ms / 1000, isolation_level=None,
                    check_same_thread=False,
                )
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
                conn.execute("PRAGMA foreign_keys=ON")
            except (sqlite3.DatabaseError, OSError) as exc:
                if "conn" in locals():
                    conn.close()
                raise StorageUnavailable(f"sqlite: cannot open database ({exc})") from exc
            entry = (conn, threading.Lock())
            self._local.entry = entry
            with self._all_lock:
                self._all.append(entry)
        return entry

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Transaction]:
        conn, conn_lock = self._conn()
        lock = self._write_lock if write else None
        # Never wait forever behind another writer: as long as SQLite itself would (busy timeout).
        if lock and not lock.acquire(timeout=max(0.05, self.busy_timeout_ms / 1000)):
            raise StorageUnavailable("sqlite: database busy (another write did not finish in time)")
        conn_lock.acquire()
        try:
            if self._closed:
                raise StorageUnavailable("sqlite: store is closed")
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                tx = _SQLiteTransaction(conn, self.dialect)
                yield tx
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(f"sqlite: {exc}") from exc
        except _REFUSED as exc:
            raise UnstorableInput(f"sqlite refused a value: {type(exc).__name__}") from exc
        except sqlite3.DatabaseError as exc:
            if type(exc) is not sqlite3.DatabaseError:  # IntegrityError etc.: a bug, not an outage
                raise
            raise StorageUnavailable(f"sqlite: {exc}") from exc
        finally:
            conn_lock.release()
            if lock:
                lock.release()

    def ping(self) -> None:
        with self.transaction(write=False) as tx:
            tx.fetchone("SELECT count(*) AS n FROM schema_migrations")

    def close(self) -> None:
        self._closed = True
        with self._all_lock:
            entries, self._all = self._all, []
        for conn, conn_lock in entries:
            with conn_lock:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass

    # ---- migrations ----
    def _applied_versions(self) -> list[int]:
        with self.transaction() as tx:
            tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            return [r["version"] for r in tx.fetchall("SELECT version FROM schema_migrations ORDER BY version")]

    def _apply(self, version: int, name: str, sql: str) -> None:
        conn, conn_lock = self._conn()
        with self._write_lock, conn_lock:
            try:
                # executescript commits an open transaction first and takes no parameters: open
                # the transaction inside the script, then record the version and commit.
                conn.executescript("BEGIN IMMEDIATE;\n" + sql)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, self.dialect.time_in(utcnow())),
                )
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StorageUnavailable(f"sqlite: migration {version} failed: {exc}") from exc

    # ---- ingest: one writer, so read-then-write per alert is race free ----
    def _ingest_rows(
        self, tx: Transaction, payload: WebhookPayload, alerts: list[ParsedAlert]
    ) -> tuple[int, list[AlertChange]]:
        d = self.dialect
        now = d.time_in(tx.now)
        cur = tx.execute(
            "INSERT INTO webhook_payloads (received_at, group_key, receiver, status, body, alert_count) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (now, payload.group_key, payload.receiver, payload.status, payload.raw, len(payload.alerts)),
        )
        payload_id = int(cur.lastrowid)
        changes: list[AlertChange] = []
        for a in alerts:
            starts = d.time_in(a.starts_at)
            old = tx.fetchone(
                "SELECT id, status, annotations, ends_at, receive_count FROM alerts WHERE fingerprint = %s "
                "AND starts_at = %s", (a.fingerprint, starts),
            )
            meta = d.json_in(alert_metadata(a, payload))
            if old is None:
                ends = d.time_in(a.ends_at or tx.now) if a.status == AlertStatus.RESOLVED else None
                row = tx.fetchone(
                    "INSERT INTO alerts (fingerprint, starts_at, alertname, status, severity, source, title, "
                    'message, labels, annotations, metadata, "timestamp", last_received_at, ends_at, '
                    "receive_count, acknowledged) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, 0) "
                    "RETURNING id",
                    (
                        a.fingerprint,
                        starts,
                        a.alertname,
                        a.status,
                        a.severity,
                        a.source,
                        a.title,
                        a.message,
                        d.json_in(a.labels),
                        d.json_in(a.annotations),
                        meta,
                        now,
                        now,
                        ends,
                    ),
                )
                assert row is not None
                alert_id, status, ends_dt = (
                    int(row["id"]),
                    a.status,
                    (a.ends_at or tx.now) if a.status == AlertStatus.RESOLVED else None,
                )
                kind: ChangeKind = "new"
            else:
                alert_id = int(old["id"])
                old_ann = json.loads(old["annotations"])
                kind = classify(old["status"], old_ann, a, old["receive_count"])
                if old["status"] == AlertStatus.RESOLVED:
                    # never reopened; a late firing repeat only counts as received
                    tx.execute(
                        "UPDATE alerts SET receive_count = receive_count + 1, last_received_at = %s WHERE id = %s",
                        (now, alert_id),
                    )
                    status, ends_dt = AlertStatus.RESOLVED, d.time_out(old["ends_at"])
                    if a.status == AlertStatus.RESOLVED:
                        tx.execute(
                            "UPDATE alerts SET annotations = %s, title = %s, message = %s, metadata = %s WHERE id = %s",
                            (d.json_in(a.annotations), a.title, a.message, meta, alert_id),
                        )
                else:
                    ends_dt = (a.ends_at or tx.now) if a.status == AlertStatus.RESOLVED else None
                    status = a.status
                    tx.execute(
                        "UPDATE alerts SET receive_count = receive_count + 1, last_received_at = %s, status = %s, "
                        "ends_at = %s, annotations = %s, title = %s, message = %s, metadata = %s WHERE id = %s",
                        (now, status, d.time_in(ends_dt), d.json_in(a.annotations), a.title, a.message, meta, alert_id),
                    )
            changes.append(
                AlertChange(
                    alert_id=alert_id, kind=kind, fingerprint=a.fingerprint, starts_at=a.starts_at,
                    status=status, alertname=a.alertname, severity=a.severity, source=a.source,
                    labels=a.labels, annotations=a.annotations, ends_at=ends_dt, generator_url=a.generator_url,
                )
            )
        return payload_id, changes
