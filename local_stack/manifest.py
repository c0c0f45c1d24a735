"""The manifest `stack.json`: which pieces a stack started, where they answer, their pids.

`Stack.up()` writes it once every piece is ready (and again when one piece is restarted);
`status`, `down` and the other `d76` commands (`d76_cli.stack_client`) read it, from another
process, to find the stack. It holds no secrets: the database URL is recorded with its password
masked (the real one is in the 0600 file `database_url`).
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from catalog import Catalog
from webhook_receiver.settings import redact_url

from . import defaults
from .config import StackConfig
from .state import read_file

__all__ = ["Piece", "write_manifest", "read_manifest", "recorded_pieces", "piece_kind", "load_pieces"]


@dataclass
class Piece:
    """One started piece as the manifest records it (a bot's target too: no pid, not ours to stop)."""

    name: str
    url: str
    health_url: str
    pid: int | None
    log: str
    kind: str = ""
    index: int = 0
    expected_peers: int = 0   # alertmanager in a cluster: members it should see
    api_url: str = ""         # a Patroni member: its REST API (role, state, timeline)

    @classmethod
    def from_manifest(cls, d: Mapping[str, Any]) -> Piece:
        known = {f.name for f in fields(cls)}
        piece = cls(**{k: v for k, v in d.items() if k in known})
        piece.kind = piece_kind(d)
        return piece


def write_manifest(state: Path, *, config: StackConfig, pieces: Iterable[Piece], database_url: str,
                   postgres_dir: Path | None, catalog: Catalog | None, direct_road: Iterable[str] = (),
                   patroni_dir: Path | None = None) -> None:
    """Record the stack: its pieces in start order, the bot's targets, the database (masked), links,
    where the pipeline's alerts go without the receiver (`direct_road`: "telegram chat N", "email to X").
    `postgres_dir`: the throwaway cluster's folder; `patroni_dir`: the Patroni members' and etcd's."""
    backend = "postgresql" if postgres_dir or database_url.startswith("postgres") else "sqlite"
    (state / defaults.STATE_MANIFEST).write_text(json.dumps({
        "started_at": time.time(), "ha": config.ha, "postgres_dir": str(postgres_dir) if postgres_dir else None,
        "patroni_dir": str(patroni_dir) if patroni_dir else None,
        "database_url": backend, "backend": backend, "database": redact_url(database_url),
        "targets": list(config.scrape_targets()), "simulator": config.runs_simulator(),
        "external_url": catalog.external_url if catalog else None,
        "runbook_base_url": catalog.settings.runbook_base_url if catalog else None,
        "direct_road": list(direct_road),
        "pieces": [asdict(p) for p in pieces]}, indent=2))


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


def load_pieces(manifest: Mapping[str, Any]) -> list[Piece]:
    """The manifest's pieces as `Piece`s, in start order."""
    return [Piece.from_manifest(p) for p in recorded_pieces(manifest)]


def piece_kind(piece: Mapping[str, Any]) -> str:
    """`receiver`, `alertmanager`, ...: recorded, or (older manifests) the name before the replica."""
    return str(piece.get("kind") or str(piece.get("name", "")).split("-")[0])
