"""Schema version 6 (on call, watched silences, muted episodes) upgrades a version-5 PostgreSQL
database holding rows."""
from __future__ import annotations

from tests.support.oncall_migration import check_upgraded, make_v5
from webhook_receiver.store import open_store


def test_version_5_database_with_rows_upgrades(pg_url) -> None:
    store = open_store(pg_url)
    try:
        make_v5(store)
        check_upgraded(store)
    finally:
        store.close()
