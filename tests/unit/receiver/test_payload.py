"""Pure parsing of Alertmanager 0.25 webhook bodies."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from webhook_receiver.errors import PayloadError
from webhook_receiver.payload import parse_alertmanager_payload, parse_time


def _load(d: Path, name: str) -> bytes:
    return (d / name).read_bytes()


def test_firing_fixture(am_fixtures_dir: Path) -> None:
    p = parse_alertmanager_payload(_load(am_fixtures_dir, "firing-p0-single.json"))
    assert p.status == "firing" and p.receiver == "wh" and p.truncated_alerts == 0
    assert p.group_key.startswith("{}:{alertname=")
    [a] = p.alerts
    assert a.fingerprint == "799840b667ae99f5"
    assert a.severity == "P0" and a.source == "exchange_health" and a.alertname == "ExchangeFrozen"
    assert a.title == "Exchange upbit is FROZEN"
    assert "<script>" in a.message  # stored as received; escaping is the formatter's job
    assert a.starts_at == datetime(2026, 11, 23, 1, 9, 9, 367000, tzinfo=UTC)
    assert a.ends_at is None  # Go zero time means "no end"
    assert json.loads(p.raw)["version"] == "4"


def test_resolved_fixture_has_end(am_fixtures_dir: Path) -> None:
    [a] = parse_alertmanager_payload(_load(am_fixtures_dir, "resolved-p0.json")).alerts
    assert a.status == "resolved"
    assert a.ends_at == datetime(2026, 11, 23, 1, 9, 12, 515000, tzinfo=UTC)


def test_group_with_korean_text(am_fixtures_dir: Path) -> None:
    p = parse_alertmanager_payload(_load(am_fixtures_dir, "firing-p2-group-of-two.json"))
    assert [a.fingerprint for a in p.alerts] == ["68f158c7d9178afb", "2384f3807bf7450f"]
    assert p.alerts[1].title.endswith("한국어 ✓")


def test_unknown_fields_are_ignored(am_fixtures_dir: Path) -> None:
    data = json.loads(_load(am_fixtures_dir, "firing-p0-single.json"))
    data["futureField"] = {"x": 1}
    data["alerts"][0]["silencedBy"] = ["abc"]
    assert parse_alertmanager_payload(data).alerts[0].fingerprint == "799840b667ae99f5"


def test_nanosecond_times_and_offsets() -> None:
    assert parse_time("2026-11-23T01:09:09.123456789Z", "t") == datetime(2026, 11, 23, 1, 9, 9, 123456, tzinfo=UTC)
    assert parse_time("2026-11-23T10:09:09+09:00", "t") == datetime(2026, 11, 23, 1, 9, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "JSON object"),
        (b'{"version": "3", "status": "firing", "alerts": []}', "version '3'"),
        (b'{"version": 4, "status": "firing", "alerts": []}', "version"),
        (b'{"version": "4", "status": "firing"}', "'alerts' is a required property"),
        (b'{"version": "4", "status": "exploding", "alerts": []}', "status"),
        (b'{"version": "4", "status": "firing", "alerts": {}}', "alerts"),
        (b'{"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "A"}, '
         b'"startsAt": "2026-11-23T01:00:00Z"}]}', "fingerprint"),
        (b'{"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": 5}, '
         b'"startsAt": "2026-11-23T01:00:00Z", "fingerprint": "f"}]}', "alerts[0].labels.alertname"),
        (b'{"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "A"}, '
         b'"startsAt": "yesterday", "fingerprint": "f"}]}', "alerts[0].startsAt"),
        (b'{"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "A"}, '
         b'"startsAt": "2026-11-23T01:00:00", "fingerprint": "f"}]}', "timezone"),
    ],
)
def test_malformed_inputs_name_the_problem(body: bytes, fragment: str) -> None:
    with pytest.raises(PayloadError) as err:
        parse_alertmanager_payload(body)
    assert fragment in str(err.value)
