"""`d76 db upgrade|current|prune` and `d76 history` on an SQLite file (no server needed)."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from d76_cli.main import cli
from webhook_receiver.payload import parse_alertmanager_payload
from webhook_receiver.store import open_store


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'h.sqlite3'}"


def test_db_upgrade_and_current(db_url: str) -> None:
    from webhook_receiver.store.migrations import MIGRATIONS

    versions = [m.version for m in MIGRATIONS]
    runner = CliRunner()
    r = runner.invoke(cli, ["db", "current"], env={"DATABASE_URL": db_url})
    assert r.exit_code == 0 and "version 0" in r.output and f"pending: {versions}" in r.output
    r = runner.invoke(cli, ["db", "upgrade"], env={"DATABASE_URL": db_url})
    assert r.exit_code == 0 and f"applied {versions}" in r.output
    r = runner.invoke(cli, ["db", "current", "--database-url", db_url])
    assert r.exit_code == 0 and f"version {versions[-1]} (up to date)" in r.output


def test_db_prune_refuses_an_unmigrated_db_then_counts_and_deletes(db_url: str) -> None:
    runner = CliRunner()
    env = {"DATABASE_URL": db_url}
    r = runner.invoke(cli, ["db", "prune", "--older-than", "30d"], env=env)
    assert r.exit_code == 1 and "d76 db upgrade" in r.output
    assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    r = runner.invoke(cli, ["db", "prune", "--older-than", "30d", "--dry-run"], env=env)
    assert r.exit_code == 0 and "would delete" in r.output and "total 0 rows" in r.output, r.output
    r = runner.invoke(cli, ["db", "prune", "--older-than", "30d"], env=env)
    assert r.exit_code == 0 and "deleted" in r.output and "total 0 rows in" in r.output, r.output


def test_history_table_and_filters(db_url: str, am_fixtures_dir: Path) -> None:
    store = open_store(db_url)
    store.migrate()
    for name in ("firing-p0-single.json", "firing-p2-group-of-two.json", "resolved-p0.json"):
        store.ingest(parse_alertmanager_payload((am_fixtures_dir / name).read_bytes()))
    store.ack_alert(2, "kim", "checking")
    store.close()
    runner = CliRunner()
    env = {"DATABASE_URL": db_url}
    r = runner.invoke(cli, ["history", "--since", "2026-11-23T00:00:00Z"], env=env)
    assert r.exit_code == 0, r.output
    assert "3 alert(s)" in r.output and "ExchangeFrozen" in r.output and "한국어" in r.output and "kim" in r.output
    r = runner.invoke(cli, ["history", "--severity", "P0", "--status", "resolved"], env=env)
    assert "1 alert(s)" in r.output and "ExchangeFrozen" in r.output and "RouteScoreLow" not in r.output
    r = runner.invoke(cli, ["history", "--acknowledged", "false", "--severity", "P2"], env=env)
    assert "1 alert(s)" in r.output
    r = runner.invoke(cli, ["history", "--since", "last tuesday"], env=env)
    assert r.exit_code == 2 and "RFC 3339" in r.output


def test_history_refuses_unmigrated_db(db_url: str) -> None:
    r = CliRunner().invoke(cli, ["history"], env={"DATABASE_URL": db_url})
    assert r.exit_code == 1 and "d76 db upgrade" in r.output


def test_receiver_rejects_bad_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yml"
    cfg.write_text("RECEIVER_TOKEN: ${MISSING_TOKEN_VAR}\n")
    r = CliRunner().invoke(cli, ["receiver", "--config", str(cfg)], env={})
    assert r.exit_code == 1 and "MISSING_TOKEN_VAR" in r.output
