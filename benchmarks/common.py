"""What several benchmarks share: percentiles, a scratch folder, a throwaway PostgreSQL cluster,
client threads. Not a benchmark itself (`benchmarks.run` only runs `bench_*` modules)."""
from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from local_stack.processes import PostgresCluster

__all__ = ["nearest_rank", "percentile", "postgres_cluster", "run_threads", "scratch_dir"]


def percentile(values: list[float], q: float) -> float:
    """The sorted value at index round(q * (n - 1)), q in [0, 1] (e2e, receiver, history)."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def nearest_rank(values: list[float], q: float) -> float:
    """The value of rank round(q * n) (1-based) in sorted order, q in [0, 1] (notify's figures)."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * len(s)) - 1))]


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder, removed at the end. Mode 0755: a throwaway PostgreSQL inside it runs as
    `postgres` and must reach it."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def postgres_cluster(base: Path) -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL 15 cluster in `base / "pg"` (server defaults: fsync and
    synchronous_commit on), stopped at the end; `cluster.url` is its database."""
    from local_stack.processes import PostgresCluster

    cluster = PostgresCluster(base / "pg").init().start()
    try:
        yield cluster
    finally:
        cluster.stop(mode="immediate")


def run_threads(worker: Callable[[], None], threads: int) -> float:
    """Run `worker` in `threads` threads at once; the wall time in seconds until all have ended."""
    started = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - started
