"""Crash one piece and start it again: the hooks of the fault tests and benchmarks.

`tests/integration/local_stack/test_ha.py` (SIGKILL and SIGSTOP of Alertmanagers, receivers and
Prometheus replicas in a burst), `test_failover.py` (SIGKILL of the PostgreSQL primary in a burst),
`test_resend.py` (a Prometheus crash and restart) and
`benchmarks/bench_e2e.py` use them through `Stack.kill` and `Stack.start`. A restarted piece gets the
same ports, config and data folder as before; only a stack started by the same `Stack` object can
restart a piece (it holds the rendered configs).
"""
from __future__ import annotations

import os
from collections.abc import Callable

from .lifecycle import StartedPieces, alive
from .processes import StartupError

__all__ = ["kill", "restart"]


def kill(started: StartedPieces, piece: str, pid: int | None, sig: int) -> None:
    """Send `sig` to the process group of `piece` (pid `pid`); a child of this process that it
    ended is reaped (waited for, up to 10 s). A Patroni member (`postgres-a`): its Patroni and its
    PostgreSQL's process group (postmaster and backends), Patroni first."""
    if pid is None:
        raise KeyError(f"no running piece {piece!r}")
    if started.config.resolve(piece)[0] == "postgres" and started.config.uses_patroni():
        started.patroni_cluster().kill(piece, sig, patroni_pid=pid)
        return
    os.killpg(pid, sig)
    proc = started.procs.get(piece)
    if proc is not None and proc.popen is not None:
        proc.popen.wait(10)


def restart(started: StartedPieces, piece: str) -> None:
    """Start one receiver, Alertmanager or Prometheus of `started` again and wait until it is ready;
    the caller records its new pid (the manifest)."""
    config = started.config
    kind, index = config.resolve(piece)
    name = config.piece_name(kind, index)
    if name in started.pieces and alive(started.pieces[name].pid):
        raise StartupError(f"{name}: still running (pid {started.pieces[name].pid})")
    starters: dict[str, Callable[[int], None]] = {
        "receiver": started.start_receiver, "alertmanager": started.start_alertmanager,
        "prometheus": started.start_prometheus}
    if kind not in starters:
        raise StartupError(f"{name}: only receivers, Alertmanagers and Prometheus can be restarted")
    starters[kind](index)
