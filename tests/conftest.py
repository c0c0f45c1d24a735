"""Shared fixtures: markers by folder, and real servers on loopback.

tests/unit/*        -> marker `unit` (no server, fast)
tests/integration/* -> marker `integration` (real Prometheus, Alertmanager, PostgreSQL, HTTP fakes)
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import pytest

from local_stack.processes import (
    ManagedProcess,
    PostgresCluster,
    free_port,
    start_alertmanager,
    start_prometheus,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "alertmanager-0.25"
LOCAL_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "alertmanager-0.25"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "unit" in parts:
            item.add_marker(pytest.mark.unit)
        elif "integration" in parts:
            item.add_marker(pytest.mark.integration)
        else:
            raise pytest.UsageError(f"{item.nodeid}: tests live in tests/unit or tests/integration")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def am_fixtures_dir() -> Path:
    """Real Alertmanager 0.25 webhook bodies (copied into the repo so a clone is self-contained)."""
    return LOCAL_FIXTURES


@pytest.fixture(scope="session")
def session_tmp() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="d76-test-"))
    d.chmod(0o755)  # the throwaway PostgreSQL cluster runs as `postgres` and must reach its folder
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster(session_tmp: Path) -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL 15 cluster for the whole session (real server, loopback)."""
    cluster = PostgresCluster(session_tmp / "pg").init().start()
    yield cluster
    cluster.stop(mode="immediate")


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh, empty database on the session cluster for one test."""
    import uuid

    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    admin = f"postgresql://postgres@127.0.0.1:{pg_cluster.port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:{pg_cluster.port}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[[Path], tuple[ManagedProcess, str]]]:
    """Start real Prometheus servers with a given config; returns (process, base_url)."""
    started: list[ManagedProcess] = []

    def start(config_file: Path) -> tuple[ManagedProcess, str]:
        port = free_port()
        n = len(started)
        proc = start_prometheus(config_file, port, tmp_path / f"prom{n}-data", tmp_path / f"prom{n}.log")
        started.append(proc)
        return proc, f"http://127.0.0.1:{port}"

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def alertmanager_factory(tmp_path: Path) -> Iterator[Callable[[Path], tuple[ManagedProcess, str]]]:
    """Start real Alertmanager servers with a given config; returns (process, base_url)."""
    started: list[ManagedProcess] = []

    def start(config_file: Path) -> tuple[ManagedProcess, str]:
        port = free_port()
        n = len(started)
        proc = start_alertmanager(config_file, port, tmp_path / f"am{n}-data", tmp_path / f"am{n}.log")
        started.append(proc)
        return proc, f"http://127.0.0.1:{port}"

    yield start
    for p in started:
        p.stop()
