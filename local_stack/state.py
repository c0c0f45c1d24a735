"""The files of the state folder `d76 stack up` leaves: reading any of them, writing the secret ones.

The folder holds the rendered configs (`local_stack.render`), the data and logs of each piece, the
manifest `stack.json` (`local_stack.manifest`) and two secret files (`defaults.STATE_TOKEN_FILE`,
`defaults.STATE_DATABASE_URL_FILE`), written 0600. The runner and `d76_cli.stack_client` (every
other `d76` command) read them here, so both agree on what a missing or broken file means: nothing
recorded.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["read_file", "write_secret"]


def read_file(state: Path, name: str | Path) -> str | None:
    """A file of the state folder (the manifest, the token, the database URL), stripped; None when
    missing or empty."""
    try:
        return (Path(state) / name).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def write_secret(state: Path, name: str | Path, text: str) -> None:
    """Write a file only its owner may read (0600 before the secret is in it)."""
    path = Path(state) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)
