"""What the notify unit tests share: an SQLite history, migrated, in the test's folder."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from webhook_receiver.store import AlertStore, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AlertStore]:
    s = open_store(f"sqlite:///{tmp_path / 'history.sqlite3'}")
    s.migrate()
    yield s
    s.close()
