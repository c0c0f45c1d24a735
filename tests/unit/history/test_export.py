"""CSV export round-trips exactly (property-based), including text a spreadsheet would run."""
from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from webhook_receiver.history.export import EXPORT_COLUMNS, export_rows, read_csv, to_csv, to_json

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
labels = st.dictionaries(st.text(string.ascii_letters + "_", min_size=1, max_size=8), text, max_size=4)


@st.composite
def store_rows(draw):  # type: ignore[no-untyped-def]
    starts = T0 + timedelta(microseconds=draw(st.integers(0, 10**12)))
    resolved = draw(st.booleans())
    acked = draw(st.booleans())
    return {
        "id": draw(st.integers(1, 2**62)), "fingerprint": draw(text), "alertname": draw(text),
        "severity": draw(st.sampled_from(["P0", "P1", "P2", "P3", ""])), "source": draw(text),
        "status": "resolved" if resolved else "firing", "starts_at": starts,
        "ends_at": starts + timedelta(seconds=draw(st.integers(0, 10**6))) if resolved else None,
        "acknowledged": acked, "acknowledged_at": starts + timedelta(seconds=3) if acked else None,
        "acknowledged_by": draw(text) if acked else None, "ack_comment": draw(st.none() | text),
        "silence_id": draw(st.none() | text), "silenced_until": draw(st.none() | st.just(T0)),
        "reconciled_at": draw(st.none() | st.just(T0)), "origin": draw(st.sampled_from(["webhook", "alertmanager"])),
        "receive_count": draw(st.integers(0, 1000)), "title": draw(text), "message": draw(text),
        "labels": draw(labels), "annotations": draw(labels),
    }


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(store_rows(), max_size=5), st.lists(st.sampled_from(["silenced", "inhibited"]), max_size=3), text)
def test_csv_round_trips(rows, kinds, who) -> None:
    eps = (
        {
            rows[0]["id"]: [
                {
                    "kind": k,
                    "cause": "c",
                    "silence_created_by": who,
                    "silence_comment": who,
                    "inhibiting_alertname": who or None,
                    "inhibiting_alert_id": 7,
                }
                for k in kinds
            ]
        }
        if rows
        else {}
    )
    out = export_rows(rows, eps)
    assert read_csv(to_csv(out)) == out
    assert list(out[0]) == list(EXPORT_COLUMNS) if out else True


def test_formula_text_is_defused_and_restored() -> None:
    [row] = export_rows([{"id": 1, "fingerprint": "f", "alertname": "=HYPERLINK(\"x\")", "severity": "P1",
                          "source": "+1", "status": "firing", "starts_at": T0, "ends_at": None, "acknowledged": False,
                          "title": "-2", "message": "@sum", "labels": {}, "annotations": {}}])
    text = to_csv([row])
    assert "\"'=HYPERLINK" in text and ",'+1," in text and ",'-2," in text and ",'@sum," in text
    assert read_csv(text) == [row]
    assert to_json([row]).startswith("[")
