"""Schema version 6 (on call, watched silences, muted episodes) upgrades a version-5 SQLite database
holding rows (PostgreSQL: tests/integration/store/test_migration_oncall_pg.py)."""
from __future__ import annotations

from tests.support.oncall_migration import check_upgraded, make_v5
from webhook_receiver.store import open_store


def test_version_5_database_with_rows_upgrades(tmp_path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'v5.db'}")
    try:
        make_v5(store)
        check_upgraded(store)
    finally:
        store.close()
