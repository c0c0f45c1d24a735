"""The schema upgrades tested on a database holding rows, for both backends (tests/unit/store/
test_migrations.py on SQLite, tests/integration/store/test_migrations_pg.py on PostgreSQL): each one
a writer of the old version's tables and rows and a check of what the upgrade made of them."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support import history_migration, oncall_migration
from webhook_receiver.store import AlertStore, open_store

__all__ = ["UPGRADES", "upgrade_with_rows"]

UPGRADES = [
    pytest.param(history_migration.make_v3, history_migration.check_upgraded, id="v3-to-history"),
    pytest.param(oncall_migration.make_v5, oncall_migration.check_upgraded, id="v5-to-oncall"),
]


def upgrade_with_rows(url: str, make_old: Callable[[AlertStore], object],
                      check: Callable[[AlertStore], object]) -> None:
    """`make_old` writes the old schema with rows into the database at `url`; `check` upgrades and checks."""
    store = open_store(url)
    try:
        make_old(store)
        check(store)
    finally:
        store.close()
