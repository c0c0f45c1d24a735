"""What the commands print, on an 80-column terminal: `d76 history` fits (rich's own width, never a
fixed 200), with where and state columns; times in one format; `d76 digest` writes the CSV it says it
attaches and leaves out empty sections; the dry run shows the buttons and the links' targets."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from d76_cli.history import history_table
from d76_cli.main import cli
from tests.support.fakes.payloads import am_alert, am_payload
from webhook_receiver.history.alert_state import AlertState, Suppression
from webhook_receiver.payload import parse_alertmanager_payload
from webhook_receiver.store import open_store
from webhook_receiver.timefmt import zone

LABELS = {"exchange": "bithumb", "route": "upbit-binance-BTC", "category": "order", "instance": "127.0.0.1:9876"}


def _row(i: int, **kw: Any) -> dict[str, Any]:
    """Alert `i`, started 3*i minutes ago (the clock read now: a parallel run may import this module
    long before the test runs)."""
    now = datetime.now(UTC)
    return {"id": i, "alertname": "RateLimitHttp429", "title": "HTTP 429 from bithumb (order) and a long tail of words",
            "severity": "P1", "status": "firing", "labels": LABELS, "starts_at": now - timedelta(minutes=3 * i),
            "ends_at": None, "acknowledged": False, "acknowledged_by": None, **kw}


def _render(table: Any, width: int) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(table)
    return console.export_text().splitlines()


def test_the_history_table_fits_80_columns_with_where_and_state() -> None:
    now = datetime.now(UTC)
    rows = [_row(1), _row(2, acknowledged=True, acknowledged_by="kim"), _row(3, status="resolved",
                                                                           ends_at=now - timedelta(minutes=1)),
            _row(4), _row(123456, severity="P0", alertname="ExchangeFrozen", title="upbit is FROZEN",
                          labels={"exchange": "upbit"})]
    states = {1: AlertState("silenced", (Suppression("silenced", "0b6c", by="lee"),)),
              2: AlertState("acked", acked=True), 3: AlertState("resolved"),
              4: AlertState("muted", (Suppression("muted", "nightly", window="nightly"),)),
              123456: AlertState("inhibited", (Suppression("inhibited", "fp", inhibiting_alertname="X"),))}
    lines = _render(history_table(rows, states, None, 80), 80)
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    text = "\n".join(lines)
    header = next(line for line in lines if line.split()[:2] == ["id", "age"])
    assert header.split() == ["id", "age", "alert", "where", "state"]
    for whole in ("route=upbit-binance-BTC", "exchange=bithumb", "category=order", "exchange=upbit", "123456",
                  "P1 RateLimitHttp429", "P0 ExchangeFrozen"):
        assert whole in text, whole  # each label value on one line, never folded
    for state in ("silenced", "acked", "resolved", "muted", "inhibited", "by lee", "by kim"):
        assert state in text, state
    assert "instance=" not in text  # where says where, not which process
    assert "12m" in text and "3m" in text  # ages first


def test_a_wide_terminal_gets_the_times_and_a_narrow_one_keeps_where_under_the_alert() -> None:
    rows = [_row(1, starts_at=datetime(2026, 12, 4, 19, 55, 26, tzinfo=UTC))]
    states = {1: AlertState("firing")}
    wide = _render(history_table(rows, states, None, 160), 160)
    assert "2026-12-04 19:55:26 UTC" in "\n".join(wide)
    assert "2026-12-05 04:55:26 KST" in "\n".join(_render(history_table(rows, states, zone("Asia/Seoul"), 160), 160))
    narrow = _render(history_table(rows, states, None, 60), 60)
    assert max(len(line) for line in narrow) <= 60 and "exchange=bithumb" in "\n".join(narrow)


@pytest.fixture
def db_url(tmp_path: Path, am_fixtures_dir: Path) -> str:
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    store = open_store(url)
    store.migrate()
    for name in ("firing-p0-single.json", "firing-p2-group-of-two.json", "resolved-p0.json"):
        store.ingest(parse_alertmanager_payload((am_fixtures_dir / name).read_bytes()))
    store.close()
    return url


def test_d76_history_takes_the_terminals_width(db_url: str) -> None:
    for columns in ("80", "200"):
        r = CliRunner().invoke(cli, ["history", "--since", "2026-11-23T00:00:00Z"],
                               env={"DATABASE_URL": db_url, "COLUMNS": columns})
        assert r.exit_code == 0, r.output
        assert max(len(line) for line in r.output.splitlines()) <= int(columns), r.output
    assert "started" not in r.output.splitlines()[2] or "UTC" in r.output  # 200 columns: the times too
    r = CliRunner().invoke(cli, ["history", "--id", "1", "--tz", "Asia/Seoul"], env={"DATABASE_URL": db_url})
    assert r.exit_code == 0 and " KST  fired " in r.output, r.output
    r = CliRunner().invoke(cli, ["history", "--tz", "Mars/Base"], env={"DATABASE_URL": db_url})
    assert r.exit_code == 2 and "'Mars/Base' is not a time zone" in r.output


def test_digest_print_mode_writes_the_csv_it_names_and_skips_empty_sections(db_url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    store = open_store(db_url)  # a P3 of today, so the digest has something to list
    store.ingest(parse_alertmanager_payload(am_payload(am_alert(
        "DiskFreeLowEarly", "P3", labels={"path": "/data"}, source="system",
        starts_at=(now - timedelta(hours=1)).isoformat().replace("+00:00", "Z")))))
    store.close()
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["digest", "--hours", "24", "--csv-dir", str(out)], env={"DATABASE_URL": db_url})
    assert r.exit_code == 0, r.output
    written = next(line for line in r.output.splitlines() if line.startswith("Written: "))
    path = Path(written.split()[1])
    days = {f"d76-history-{d:%Y-%m-%d}.csv" for d in (now, datetime.now(UTC))}  # (midnight may pass meanwhile)
    assert path.parent == out and path.name in days and "Attached" not in r.output
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    # the day's digest holds every alert active in the day: the P3 of today and the fixtures' alerts
    # that started days ago and still fire (history by activity); the fixtures' resolved P0 ended long ago
    names = sorted(x["alertname"] for x in rows)
    assert "DiskFreeLowEarly" in names and f"({len(rows)} alerts" in written, (names, written)
    assert len(rows) > 1 and all(x["status"] == "firing" for x in rows), rows
    assert "Open (1):" in r.output and "Resolved (" not in r.output, r.output  # P3 listed; no empty section
    assert "(none)" not in r.output and "  P1        0" in r.output  # every severity counted, even at 0
    # an empty window: one line says so, nothing else is printed empty
    empty = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    store = open_store(empty)
    store.migrate()
    store.close()
    r = CliRunner().invoke(cli, ["digest", "--hours", "0.1", "--csv-dir", str(out)], env={"DATABASE_URL": empty})
    assert r.exit_code == 0, r.output
    assert "P3 alerts: none." in r.output
    assert "Top alertnames" not in r.output and "Open (" not in r.output


def test_digest_default_folder_is_the_stacks(db_url: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    r = CliRunner().invoke(cli, ["digest", "--state-dir", str(state)], env={"DATABASE_URL": db_url})
    assert r.exit_code == 0 and f"Written: {state / 'digests'}" in r.output, r.output
