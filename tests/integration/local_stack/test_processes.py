"""The real servers the project relies on start, answer, and stop, through local_stack."""
from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import requests

from local_stack.processes import StartupError, free_port, start_prometheus


def test_postgres_cluster_accepts_queries(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT current_setting('server_version_num')::int").fetchone()[0] >= 150000


def test_prometheus_and_alertmanager_start(tmp_path: Path, prometheus_factory, alertmanager_factory) -> None:
    prom_cfg = tmp_path / "prometheus.yml"
    prom_cfg.write_text("global:\n  scrape_interval: 1s\n")
    am_cfg = tmp_path / "am.yml"
    am_cfg.write_text("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n")
    _, prom = prometheus_factory(prom_cfg)
    _, am = alertmanager_factory(am_cfg)
    assert requests.get(f"{prom}/api/v1/status/buildinfo", timeout=5).json()["data"]["version"].startswith("2.")
    assert requests.get(f"{am}/api/v2/status", timeout=5).json()["versionInfo"]["version"].startswith("0.25")


def test_bad_config_names_the_piece(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yml"
    cfg.write_text("global: [not, a, mapping\n")
    with pytest.raises(StartupError, match="prometheus"):
        start_prometheus(cfg, free_port(), tmp_path / "d", tmp_path / "p.log", timeout=10)
