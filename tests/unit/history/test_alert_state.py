"""An alert's state, the one answer of the pages, `d76 history` and `/alerts`: from its open suppressed
episodes (what Alertmanager reported to the reconciler) and the receiver's own silence."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from webhook_receiver.history.alert_state import state_of, where

NOW = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)


def _row(**kw: Any) -> dict[str, Any]:
    return {"id": 1, "status": "firing", "acknowledged": False, **kw}


def _silenced(cause: str = "0b6c1b2e-aaaa", ends: datetime | None = NOW + timedelta(hours=1), **kw: Any) -> dict:
    return {"kind": "silenced", "cause": cause, "silence_created_by": "kim", "silence_comment": "upbit maintenance",
            "silence_ends_at": ends, "started_at": NOW - timedelta(minutes=5), "ended_at": None, **kw}


def test_a_silence_made_outside_the_receiver_is_known_from_its_episode() -> None:
    s = state_of(_row(silence_id=None), [_silenced()], {}, NOW)
    assert s.name == "silenced" and s.suppressed
    text = s.suppressions[0].describe()
    assert text == "silenced by kim until 2026-12-04 21:00:00 UTC: upbit maintenance (silence 0b6c1b2e)"


def test_precedence_and_what_no_longer_counts() -> None:
    assert state_of(_row(), [], {}, NOW).name == "firing"
    assert state_of(_row(acknowledged=True), [], {}, NOW).name == "acked"
    assert state_of(_row(status="resolved"), [_silenced()], {}, NOW).name == "resolved"
    # an ended episode, or a silence past its end (the next reconciliation closes it), no longer counts
    assert state_of(_row(), [_silenced(ended_at=NOW)], {}, NOW).name == "firing"
    assert state_of(_row(), [_silenced(ends=NOW - timedelta(seconds=1))], {}, NOW).name == "firing"
    inhibited = {"kind": "inhibited", "cause": "fp", "inhibiting_alertname": "ExchangeFrozen",
                 "inhibiting_alert_id": 7, "started_at": NOW, "ended_at": None}
    window = {"kind": "muted", "cause": "nightly", "started_at": NOW, "ended_at": None}
    s = state_of(_row(acknowledged=True), [inhibited, window, _silenced()], {}, NOW)
    assert [x.kind for x in s.suppressions] == ["silenced", "muted", "inhibited"] and s.name == "silenced" and s.acked
    assert s.first("inhibited").describe() == "inhibited by ExchangeFrozen (#7)"
    assert s.first("muted").describe() == "muted by the maintenance window nightly"
    assert state_of(_row(), [inhibited], {}, NOW).name == "inhibited"


def test_a_mute_is_a_silence_of_a_maintenance_window() -> None:
    s = state_of(_row(), [_silenced(cause="5ca1ab1e-0000")], {"5ca1ab1e-0000": 3}, NOW)
    assert s.name == "muted" and "(maintenance #3, silence 5ca1ab1e)" in s.suppressions[0].describe()


def test_the_receivers_own_silence_counts_until_alertmanager_is_polled() -> None:
    row = _row(silence_id="feedf00d-1", silenced_until=NOW + timedelta(minutes=30), silenced_at=NOW)
    s = state_of(row, [], {}, NOW)
    assert s.name == "silenced" and s.suppressions[0].until == NOW + timedelta(minutes=30)
    # once polled, the episode (with its author) is the one shown, not twice
    s = state_of(row, [_silenced(cause="feedf00d-1")], {}, NOW)
    assert len(s.suppressions) == 1 and s.suppressions[0].by == "kim"
    assert state_of(_row(silence_id="x", silenced_until=NOW - timedelta(seconds=1)), [], {}, NOW).name == "firing"


def test_where_an_alert_is() -> None:
    assert where({"alertname": "A", "exchange": "upbit", "category": "order", "instance": "h:1", "job": "d75"}) == [
        ("exchange", "upbit"), ("category", "order")]
    assert where({"route": "upbit-binance-BTC", "symbol": "BTC"}) == [("route", "upbit-binance-BTC"), ("symbol", "BTC")]
    assert where({"alertname": "ReceiverDown", "job": "receiver", "instance": "127.0.0.1:9099"}) == [
        ("instance", "127.0.0.1:9099")]
    assert where({"alertname": "Watchdog"}) == []
