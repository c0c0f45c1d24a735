"""Reading the state folder `d76 stack up` leaves: the manifest and the two secret files.

`local_stack.runner` writes them (`defaults.STATE_*` name them); the runner itself (`status`,
`down`, `api` from another process) and `d76_cli.stack_client` (every other `d76` command) read
them here, so both agree on what a missing or broken file means: nothing recorded.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import defaults

__all__ = ["read_manifest", "read_file", "recorded_pieces", "piece_kind"]


def read_file(state: Path, name: str | Path) -> str | None:
    """A file of the state folder (the manifest, the token, the database URL), stripped; None when
    missing or empty."""
    try:
        return (Path(state) / name).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def read_manifest(state: Path) -> dict[str, Any]:
    """`stack.json` as a dict; {} when it is missing or not a JSON object (no stack recorded)."""
    text = read_file(state, defaults.STATE_MANIFEST)
    try:
        loaded = json.loads(text) if text else {}
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def recorded_pieces(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The manifest's pieces (name, url, pid, kind, ...), in start order."""
    return [p for p in manifest.get("pieces") or [] if isinstance(p, dict)]


def piece_kind(piece: Mapping[str, Any]) -> str:
    """`receiver`, `alertmanager`, ...: recorded, or (older manifests) the name before the replica."""
    return str(piece.get("kind") or str(piece.get("name", "")).split("-")[0])
