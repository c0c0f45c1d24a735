"""The SQLite history file and its -wal/-shm are the receiver's user's only (0600), like the stack's
database URL file; a file left readable by an older version is tightened when opened."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from webhook_receiver.store import open_store


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_a_new_history_is_0600_with_its_wal_and_shm(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, which would leave the file 0644
    try:
        store = open_store(f"sqlite:///{tmp_path / 'h.sqlite3'}")
        store.migrate()
        files = sorted(tmp_path.iterdir())
        assert [p.name for p in files] == ["h.sqlite3", "h.sqlite3-shm", "h.sqlite3-wal"]
        assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
        store.close()
    finally:
        os.umask(old)


def test_an_existing_readable_history_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    store = open_store(f"sqlite:///{path}")
    store.migrate()
    store.close()
    for p in tmp_path.iterdir():
        os.chmod(p, 0o644)
    store = open_store(f"sqlite:///{path}")
    assert store.get_alert(1) is None  # opened (and read) as before
    assert all(_mode(p) == 0o600 for p in tmp_path.iterdir()), {p.name: oct(_mode(p)) for p in tmp_path.iterdir()}
    store.close()
