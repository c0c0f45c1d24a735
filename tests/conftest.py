"""Shared fixtures: markers by folder, and real servers on loopback.

tests/unit/**        -> marker `unit` (no server, fast)
tests/integration/** -> marker `integration` (real Prometheus, Alertmanager, PostgreSQL, HTTP fakes)

Both are laid out as the packages are (tests/unit/notify/test_pacing.py tests
webhook_receiver/notify/pacing.py); what several tests share is in tests/support/.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from local_stack.processes import (
    ManagedProcess,
    PostgresCluster,
    free_port,
    start_alertmanager,
    start_prometheus,
    wait_http_ok,
)
from tests.support import paths

if TYPE_CHECKING:
    from flask import Flask

    from tests.support.fakes import FakeTelegram
    from webhook_receiver.store import AlertStore

REPO_ROOT = paths.REPO
D76 = str(Path(sys.executable).with_name("d76"))


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
    return paths.AM_FIXTURES


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


_Starter = Callable[[Path], tuple[ManagedProcess, str]]


def _server_factory(start_server: Callable[[Path, int, Path, Path], ManagedProcess], prefix: str,
                    tmp_path: Path) -> Iterator[_Starter]:
    """Start real servers of one kind with a given config; yields the starter, stops them all afterwards."""
    started: list[ManagedProcess] = []

    def start(config_file: Path) -> tuple[ManagedProcess, str]:
        port = free_port()
        n = len(started)
        proc = start_server(config_file, port, tmp_path / f"{prefix}{n}-data", tmp_path / f"{prefix}{n}.log")
        started.append(proc)
        return proc, f"http://127.0.0.1:{port}"

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[_Starter]:
    """Start real Prometheus servers with a given config; returns (process, base_url)."""
    yield from _server_factory(start_prometheus, "prom", tmp_path)


@pytest.fixture
def alertmanager_factory(tmp_path: Path) -> Iterator[_Starter]:
    """Start real Alertmanager servers with a given config; returns (process, base_url)."""
    yield from _server_factory(start_alertmanager, "am", tmp_path)


# --- the receiver, on both backends -------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on the embedded default and on PostgreSQL (a fresh database)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(database_url: str) -> Iterator[AlertStore]:
    """A migrated store on `database_url`."""
    from webhook_receiver.store import open_store

    s = open_store(database_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    """The fake Telegram Bot API on loopback."""
    from tests.support.fakes import FakeTelegram

    with FakeTelegram() as server:
        yield server


@pytest.fixture
def make_app() -> Iterator[Callable[..., Flask]]:
    """`make_app(env, **create_app_kwargs)`: a receiver app from settings given as environment
    variables; every app's store (and its background threads) is closed at the end."""
    from webhook_receiver.app import create_app
    from webhook_receiver.settings import load_settings

    apps: list = []

    def make(env: dict[str, str], **kwargs):  # type: ignore[no-untyped-def]
        app = create_app(load_settings(env=dict(env)), **kwargs)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["d76_receiver"].close()


def telegram_env(tg: FakeTelegram, chat: str = "-1001", **extra: str) -> dict[str, str]:
    """Receiver settings that point Telegram at the fake (no long polling unless asked)."""
    return {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_CHAT_ID": chat, "TELEGRAM_API_URL": tg.api_url,
            "TELEGRAM_POLLING": "false", "NOTIFY_POLL_SECONDS": "0.05", **extra}


def start_receiver(log_path: Path, env: dict[str, str], *, port: int | None = None, threads: int | None = None,
                   ready: str = "/readyz", unset: tuple[str, ...] = (),
                   name: str = "receiver") -> tuple[ManagedProcess, str]:
    """The real `d76 receiver` process (waitress) on 127.0.0.1:`port` (default: a free one), with
    `env` over this process's environment (less the `unset` names), once `ready` answers 2xx.
    Returns the process (the caller stops it) and its base URL."""
    port = port or free_port()
    full_env = {k: v for k, v in os.environ.items() if k not in unset}
    full_env.update(env)
    args = [D76, "receiver", "--listen", f"127.0.0.1:{port}", *(["--threads", str(threads)] if threads else [])]
    proc = ManagedProcess(name, args, log_path, env=full_env).start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ok(url + ready, 60, proc)
    except BaseException:
        proc.stop()
        raise
    return proc, url


@pytest.fixture
def receiver_process(tmp_path: Path) -> Iterator[Callable[..., tuple[ManagedProcess, str]]]:
    """`receiver_process(env, **start_receiver_kwargs)`: `start_receiver` with its log in tmp_path;
    every receiver started is stopped at the end."""
    started: list[ManagedProcess] = []

    def start(env: dict[str, str], **kwargs: Any) -> tuple[ManagedProcess, str]:
        proc, url = start_receiver(tmp_path / f"receiver{len(started)}.log", env, **kwargs)
        started.append(proc)
        return proc, url

    yield start
    for p in started:
        p.stop()
