"""Schema version 4 (history) upgrades a version-3 PostgreSQL database holding rows, and version 6
(on call, watched silences, muted episodes) a version-5 one."""
from __future__ import annotations

import pytest

from tests.support.upgrades import UPGRADES, upgrade_with_rows


@pytest.mark.parametrize(("make_old", "check"), UPGRADES)
def test_an_old_database_with_rows_upgrades(pg_url, make_old, check) -> None:
    upgrade_with_rows(pg_url, make_old, check)
