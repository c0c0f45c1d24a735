"""The whole pipeline on one machine, without Docker: simulator -> Prometheus -> Alertmanager -> receiver.

`Stack(StackConfig(...)).up()` checks the config and ports (`preflight`), renders the configs from
the catalog into the state folder (`render`), starts each piece with a readiness wait (`lifecycle`:
a failure names the piece and stops what was started), and records pids in `state/stack.json`
(`manifest`) so `status` (`status`) and `down` work from another command. Processes run in their
own sessions, so `d76 stack up` can return while they keep running. `kill` and `start` crash and
restart one piece for the fault tests (`faults`). `Stack` is the one object the command line, the
demo, the tests and the benchmarks use; the modules behind it each own one of those concerns.

Two shapes:

- single: one Prometheus, one Alertmanager (no cluster), one receiver (SQLite by default);
- `ha=True`: two Prometheus replicas (same rules, `replica` external label dropped from alerts),
  three Alertmanagers in one gossip cluster on loopback, every Prometheus sending to every
  Alertmanager, two receivers on one PostgreSQL (the throwaway cluster unless `database_url` is
  given), every Alertmanager posting to both receivers. Pieces are named `prometheus-a`,
  `alertmanager-b`, `receiver-a`, ... ; `url("prometheus")` is replica a.

The bot: by default the simulator on `exporter_port`; `targets` (`host:port`, repeatable: the real
bot's exporters) are scraped instead and the simulator does not start. `status()` reports each
target's scrape health as Prometheus sees it (`/api/v1/targets`).

Links: the rules' `runbook_url` points at this stack's receiver (its real port) unless the override
file sets `policy.external_url` (then the receiver also gets RECEIVER_EXTERNAL_URL, for history links)
or `policy.runbook_base_url`. `notes()` says which, once, at start.

The state folder is read back through `local_stack.state` and `local_stack.manifest` (also by the
other `d76` commands).
"""
from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from catalog import Catalog

from . import defaults, faults
from .config import KINDS, StackConfig
from .lifecycle import StartedPieces, alive, postgres_running, stop_stack
from .manifest import Piece, load_pieces, read_manifest, write_manifest
from .preflight import check_config, check_ports
from .processes import StartupError
from .render import Rendered, direct_road_names, render
from .state import read_file
from .status import PieceStatus, look_lines, notes, probe_pieces, status_lines, wait_first_scrape

__all__ = ["StackConfig", "Stack", "PieceStatus", "StartupError", "DEFAULT_STATE_DIR", "MANIFEST", "TOKEN_FILE",
           "DATABASE_URL_FILE", "KINDS"]

DEFAULT_STATE_DIR = defaults.DEFAULT_STATE_DIR
# in the state folder: what `d76 history`, `d76 ack` ... read to find the stack (d76_cli.stack_client)
MANIFEST = defaults.STATE_MANIFEST
TOKEN_FILE = defaults.STATE_TOKEN_FILE
DATABASE_URL_FILE = defaults.STATE_DATABASE_URL_FILE


class Stack:
    """Start, inspect and stop the local stack. Also a context manager (up on enter, down on exit)."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.state = Path(self.config.state_dir).resolve()
        self.logs = self.state / "logs"
        self.started = StartedPieces(self.config, self.state)
        self.rendered: Rendered | None = None
        self.token = ""
        self.catalog: Catalog | None = None

    # -- names and urls ------------------------------------------------------------------------------
    def piece_name(self, kind: str, index: int = 0) -> str:
        """`prometheus` in the single shape; `prometheus-a`, `prometheus-b`, ... in the HA shape."""
        return self.config.piece_name(kind, index)

    def names(self, kind: str) -> list[str]:
        """The pieces of one kind, in replica order."""
        return self.config.names(kind)

    def url(self, piece: str) -> str:
        """Base URL of a piece; a bare kind (`prometheus`) is the first replica. Pieces recorded by
        an earlier `up` (another process) are found where they were started."""
        return self.config.url(piece, self._recorded_urls())

    def urls(self, kind: str) -> list[str]:
        recorded = self._recorded_urls()
        return [self.config.url(n, recorded) for n in self.names(kind)]

    @property
    def manifest_path(self) -> Path:
        return self.state / MANIFEST

    # -- up -------------------------------------------------------------------------------------------
    def up(self) -> Stack:
        if self._any_running():
            raise StartupError(f"a stack is already running from {self.state} (`d76 stack down` first)")
        self.manifest_path.unlink(missing_ok=True)  # a stale record of a stack that died
        self.state.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        check_config(self.config)
        check_ports(self.config)
        self.started.start_all(self._render())
        self._write_manifest()
        return self

    def _render(self) -> Rendered:
        """Write every config into the state folder (a fresh receiver token with them)."""
        self.rendered = render(self.config, self.state)
        self.catalog, self.token = self.rendered.catalog, self.rendered.token
        return self.rendered

    def _write_manifest(self) -> None:
        s = self.started
        write_manifest(self.state, config=self.config, pieces=s.pieces.values(), database_url=s.database_url,
                       postgres_dir=s.postgres.base_dir if s.postgres else None, catalog=self.catalog,
                       direct_road=direct_road_names(self.rendered.native) if self.rendered else (),
                       patroni_dir=s.patroni.base_dir if s.patroni else None)

    def wait_first_scrape(self, timeout: float = 10.0) -> bool:
        """Wait until Prometheus has scraped each target once (see `status.wait_first_scrape`)."""
        return wait_first_scrape(self.url("prometheus"), self.config.scrape_targets(), timeout)

    # -- one piece (tests, benchmarks, operators restarting a replica) ----------------------------------
    def pid(self, piece: str) -> int | None:
        return next((p.pid for p in self._recorded() if p.name == piece), None)

    def kill(self, piece: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to one piece's process group (SIGKILL: a crash, nothing flushed). A PostgreSQL
        member of the HA shape is its Patroni and its PostgreSQL together (the member's host dying)."""
        faults.kill(self.started, piece, self.pid(piece), sig)

    def start(self, piece: str) -> None:
        """Start one piece of a stack brought up by this object again (same ports, config and data
        folder), e.g. after `kill`; waits until it is ready and records its new pid."""
        faults.restart(self.started, piece)
        self._write_manifest()

    # -- status / down ----------------------------------------------------------------------------------
    def _manifest(self) -> dict[str, Any]:
        return read_manifest(self.state)

    def _recorded(self, manifest: dict[str, Any] | None = None) -> list[Piece]:
        """The pieces this object started, else those the manifest (`manifest`, or read now) records."""
        if self.started.pieces:
            return list(self.started.pieces.values())
        return load_pieces(self._manifest() if manifest is None else manifest)

    def _recorded_urls(self) -> dict[str, str]:
        return {p.name: p.url for p in self._recorded()}

    def _any_running(self) -> bool:
        """Whether a process of a recorded stack is still alive (the bot's targets are not the
        stack's: one still up does not mean a stack runs; nothing is asked over HTTP)."""
        return any(postgres_running(p) if p.kind == "postgres" else alive(p.pid) for p in self._recorded())

    def status(self) -> list[PieceStatus]:
        return probe_pieces(self._recorded())

    def down(self, timeout: float = 10.0) -> list[str]:
        """Stop every piece (this process's children and those recorded by an earlier `up`)."""
        manifest = self._manifest()
        stopped = stop_stack(self.started, self._recorded(manifest), manifest.get("postgres_dir"), timeout,
                             manifest.get("patroni_dir"))
        self.manifest_path.unlink(missing_ok=True)
        return stopped

    def __enter__(self) -> Stack:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- conveniences for the demo, tests and benchmarks ----------------------------------------------
    def scenario(self, name: str, target: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"scenario": name}
        if target:
            body["target"] = target
        r = requests.post(self.url("exporter") + "/scenario", json=body, timeout=10)
        if r.status_code != 200:
            raise RuntimeError(f"simulator refused scenario {name!r}: {r.text}")
        return r.json()

    def api(self, method: str, path: str, receiver: str = "receiver", **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token_from_disk()}"}
        return requests.request(method, self.url(receiver) + path, headers=headers, timeout=10, **kw)

    def token_from_disk(self) -> str:
        if not self.token:
            self.token = read_file(self.state, TOKEN_FILE) or ""
        return self.token

    def logs_of(self, piece: str) -> Path:
        return self.logs / f"{piece}.log"

    def iter_status_lines(self, statuses: list[PieceStatus] | None = None) -> Iterator[str]:
        """Lines for `d76 stack status`: of `statuses` (a `status()` already taken), or probed now."""
        st = self.status() if statuses is None else statuses
        manifest = self._manifest()
        return status_lines(st, ha=bool(self.config.ha or manifest.get("ha")), database=manifest.get("database"))

    def look_lines(self) -> list[str]:
        """Where to look once it runs: the receiver's pages and the token file that opens them,
        Prometheus' and Alertmanager's own pages (or `amtool`, Debian's packages having no web UI)."""
        recorded = {p.kind for p in self._recorded()}

        def first(kind: str) -> str | None:
            return self.url(kind) if kind in recorded else None

        return look_lines(first("receiver"), self.state / TOKEN_FILE, first("prometheus"), first("alertmanager"))

    def database_url(self) -> str | None:
        """The receiver's DATABASE_URL (password included: it comes from a 0600 file), or None."""
        return read_file(self.state, DATABASE_URL_FILE)

    def notes(self) -> list[str]:
        """What an operator should know once, at start: where links in messages point."""
        return notes(self._manifest())
