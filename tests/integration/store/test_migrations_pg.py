"""Schema version 4 (history) upgrades a version-3 PostgreSQL database holding rows."""
from __future__ import annotations

from tests.support.history_migration import check_upgraded, make_v3
from webhook_receiver.store import open_store


def test_version_3_database_with_rows_upgrades(pg_url) -> None:
    store = open_store(pg_url)
    try:
        make_v3(store)
        check_upgraded(store)
    finally:
        store.close()
