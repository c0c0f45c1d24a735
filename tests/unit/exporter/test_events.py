"""One-off events: label building, validation, and never raising into the bot."""
from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from exporter.events import AlertClient, EventError, build_alert, camel_case
from local_stack.processes import free_port

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def test_build_alert_labels_and_annotations():
    a = build_alert("P1", "risk_guard", "Manual kill switch", "Operator stopped trading",
                    {"exchange": "upbit", "operator": "kim", "limits": {"daily": 10000}}, now=NOW,
                    runbook_url="http://wiki/kill")
    assert a["labels"] == {"alertname": "ManualKillSwitch", "severity": "P1", "source": "risk_guard",
                           "event": "true", "exchange": "upbit"}
    assert a["annotations"] == {"summary": "Manual kill switch", "description": "Operator stopped trading",
                                "operator": "kim", "limits": '{"daily": 10000}', "runbook_url": "http://wiki/kill"}
    assert a["startsAt"] == "2026-11-23T06:00:00.000Z" and a["endsAt"] == "2026-11-23T06:15:00.000Z"


def test_camel_case():
    assert camel_case("exchange upbit: withdrawal suspended!") == "ExchangeUpbitWithdrawalSuspended"
    assert camel_case("429 storm") == "Event429Storm"
    with pytest.raises(EventError):
        camel_case("!!!")


@pytest.mark.parametrize("args,words", [
    (("P7", "risk_guard", "t", "m", None), "severity must be one of"),
    (("P1", "trading", "t", "m", None), "source must be one of"),
    (("P1", "risk_guard", "  ", "m", None), "title"),
    (("P1", "risk_guard", "t", "m", {"exchange": 5}), "identifying label"),
    (("P1", "risk_guard", "t", "m", {"summary": "x"}), "reserved"),
])
def test_invalid_events(args, words):
    with pytest.raises(EventError, match=words):
        build_alert(*args)
    client = AlertClient("http://127.0.0.1:1", retries=0)
    try:
        assert client.send(*args) is False  # logged, not raised
    finally:
        client.close()


def test_unreachable_alertmanager_returns_false_quickly():
    client = AlertClient(f"http://127.0.0.1:{free_port()}", retries=1, timeout=0.5)
    t0 = time.monotonic()
    try:
        assert client.send("P1", "risk_guard", "Kill switch", "m") is False
    finally:
        client.close()
    assert time.monotonic() - t0 < 5
    strict = AlertClient(f"http://127.0.0.1:{free_port()}", retries=0, strict=True)
    with pytest.raises(requests.RequestException):
        strict.send("P1", "risk_guard", "Kill switch", "m")
    strict.close()


def test_background_mode_never_blocks_and_drops_when_full():
    # an Alertmanager that accepts connections and never answers: the sender thread hangs on it
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        client = AlertClient(f"http://127.0.0.1:{silent.getsockname()[1]}", retries=0, timeout=1.0,
                             background=True, queue_size=2)
        try:
            t0 = time.monotonic()
            results = [client.send("P2", "system", f"event {i}", "m") for i in range(20)]
            assert time.monotonic() - t0 < 0.5  # the caller never waits for the network
            assert results[:2] == [True, True] and results.count(False) >= 15  # full queue: dropped
        finally:
            client.close()


def test_ttl_must_be_positive():
    with pytest.raises(EventError):
        build_alert("P1", "system", "t", "m", ttl=timedelta(0))
