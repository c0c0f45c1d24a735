"""Schema version 4 (history) upgrades a version-3 SQLite database holding rows, and version 6 (on
call, watched silences, muted episodes) a version-5 one (PostgreSQL:
tests/integration/store/test_migrations_pg.py)."""
from __future__ import annotations

import pytest

from tests.support.upgrades import UPGRADES, upgrade_with_rows


@pytest.mark.parametrize(("make_old", "check"), UPGRADES)
def test_an_old_database_with_rows_upgrades(tmp_path, make_old, check) -> None:
    upgrade_with_rows(f"sqlite:///{tmp_path / 'old.db'}", make_old, check)
