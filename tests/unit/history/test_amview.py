"""Alertmanager's /api/v2/alerts parsed and merged over replicas (pure)."""
from __future__ import annotations

from datetime import UTC, datetime

from webhook_receiver.history.amview import merge_replicas, parse_am_alerts


def _a(fp: str, starts: str = "2026-11-23T01:00:00.123Z", silenced=(), inhibited=(), ends="2026-11-23T02:00:00Z",
       state: str = "active") -> dict:
    return {"fingerprint": fp, "startsAt": starts, "endsAt": ends, "labels": {"alertname": "X", "exchange": "upbit"},
            "annotations": {"summary": "s"}, "receivers": [{"name": "d76-p1"}],
            "status": {"state": state, "silencedBy": list(silenced), "inhibitedBy": list(inhibited)}}


def test_malformed_entries_are_skipped_and_counted() -> None:
    alerts, bad = parse_am_alerts([_a("1"), "x", {"fingerprint": "2"}, _a("3", starts="yesterday"),
                                   {**_a("4"), "labels": ["a"]}, _a("5", ends="0001-01-01T00:00:00Z")])
    assert [a.fingerprint for a in alerts] == ["1", "5"] and bad == 4
    assert alerts[0].starts_at == datetime(2026, 11, 23, 1, 0, 0, 123000, tzinfo=UTC)
    assert alerts[1].ends_at is None and alerts[0].receivers == ("d76-p1",)
    assert parse_am_alerts({"not": "a list"}) == ([], 1)


def test_union_over_replicas_keeps_every_cause_and_the_latest_end() -> None:
    a, _ = parse_am_alerts([_a("1", silenced=["s1"], ends="2026-11-23T02:00:00Z")])
    b, _ = parse_am_alerts([_a("1", inhibited=["f9"], ends="2026-11-23T03:00:00Z", state="suppressed"),
                            _a("2")])
    merged = merge_replicas([a, b])
    assert len(merged) == 2
    one = next(x for x in merged.values() if x.fingerprint == "1")
    assert one.silenced_by == ("s1",) and one.inhibited_by == ("f9",) and one.state == "suppressed"
    assert one.ends_at == datetime(2026, 11, 23, 3, tzinfo=UTC) and one.suppressed
