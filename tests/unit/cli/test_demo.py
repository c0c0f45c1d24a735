"""`d76 demo`'s closing history table, against a stand-in stack (tests/integration/cli/test_demo.py
runs the whole demo against a real one)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from d76_cli.demo import DemoStack, print_history

ALERTS = [
    {"id": 2, "severity": "P0", "alertname": "ExchangeFrozen", "status": "resolved",
     "labels": {"exchange": "upbit", "severity": "P0"}, "acknowledged_by": "demo-operator"},
    {"id": 1, "severity": "P1", "alertname": "RiskGuardRouteBlock", "status": "firing",
     "labels": {"tier": "route", "scope": "upbit-binance-BTC"}},
]
DELIVERIES = {
    1: [{"channel": "telegram", "kind": "firing", "status": "sent"}],
    2: [{"channel": "telegram", "kind": "firing", "status": "sent"},
        {"channel": "telegram", "kind": "resolved", "status": "folded"},
        {"channel": "email", "kind": "firing", "status": "failed"}],
}


class Answer:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body, self.ok = body, True

    def json(self) -> dict[str, Any]:
        return self.body

    def raise_for_status(self) -> None:
        return None


class FakeStack:
    """The receiver's history API of a stack, and nothing else."""

    logs = Path("/nonexistent/logs")

    def __init__(self, broken: bool = False) -> None:
        self.broken = broken

    def url(self, piece: str) -> str:
        return f"http://127.0.0.1:1/{piece}"

    def api(self, method: str, path: str, receiver: str = "receiver", **kw: Any) -> Any:
        if self.broken:
            raise ConnectionError("receiver gone")
        if path == "/api/alerts":
            return Answer({"alerts": ALERTS})
        alert_id = int(path.rsplit("/", 1)[1])
        return Answer({"alert": {"deliveries": DELIVERIES[alert_id]}})

    def scenario(self, name: str, target: str | None = None) -> dict[str, Any]:
        return {}

    def logs_of(self, piece: str) -> Path:
        return self.logs / f"{piece}.log"


def _printed(stack: DemoStack) -> str:
    console = Console(record=True, width=200)
    print_history(console, stack)
    return console.export_text()


def test_the_history_table_shows_every_alert_and_what_telegram_was_told() -> None:
    out = _printed(FakeStack())
    assert "history unavailable" not in out
    lines = out.splitlines()
    frozen = next(line for line in lines if "ExchangeFrozen" in line)
    assert "upbit" in frozen and "resolved" in frozen and "demo-operator" in frozen
    assert "firing✓" in frozen and "resolved+counted" in frozen and "✗" not in frozen  # email is not Telegram
    block = next(line for line in lines if "RiskGuardRouteBlock" in line)
    assert "upbit-binance-BTC" in block and "firing✓" in block
    assert lines.index(block) < lines.index(frozen)  # by id


def test_a_stack_that_fails_is_reported_not_raised() -> None:
    out = _printed(FakeStack(broken=True))
    assert "(history unavailable: receiver gone)" in out
