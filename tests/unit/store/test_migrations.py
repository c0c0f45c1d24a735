"""Schema version 4 (history) upgrades a version-3 SQLite database holding rows (PostgreSQL:
tests/integration/store/test_migrations_pg.py)."""
from __future__ import annotations

from tests.support.history_migration import check_upgraded, make_v3
from webhook_receiver.store import open_store


def test_version_3_database_with_rows_upgrades(tmp_path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'v3.db'}")
    try:
        make_v3(store)
        check_upgraded(store)
    finally:
        store.close()
