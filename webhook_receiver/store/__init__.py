"""Alert storage: one interface (`AlertStore`), SQLite (default) and PostgreSQL backends."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .base import AlertQuery, AlertStore, IngestResult, Transaction
from .changes import AlertChange, IngestHook, no_hook

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["AlertChange", "AlertQuery", "AlertStore", "IngestHook", "IngestResult", "Transaction", "no_hook",
           "open_store"]


def open_store(url: str, settings: Settings | None = None) -> AlertStore:
    """The store for `url` (`sqlite:///PATH` or `postgresql://...`). Does not migrate."""
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        if settings is None:
            return PostgresStore(url)
        return PostgresStore(url, pool_size=settings.db_pool_size, pool_timeout=settings.db_pool_timeout,
                             connect_timeout=settings.db_connect_timeout)
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteStore

        return SQLiteStore(url, busy_timeout_ms=settings.sqlite_busy_timeout_ms if settings else 5000)
    raise ValueError("DATABASE_URL must be sqlite:///PATH or postgresql://...")
