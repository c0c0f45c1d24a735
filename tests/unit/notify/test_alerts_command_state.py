"""`/alerts` tells the same truth as the pages and `d76 history`: a silence made outside the receiver
(`d76 silence create`, amtool) and an inhibition, as the history reconciler recorded them, are shown
even when Alertmanager does not answer now."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.fakes.payloads import am_alert, am_payload
from tests.support.fakes.telegram import parse_telegram_html
from webhook_receiver.notify.actions import AlertActions
from webhook_receiver.notify.commands import parse_command
from webhook_receiver.notify.operator import OperatorConsole
from webhook_receiver.notify.outbox import Outbox
from webhook_receiver.payload import parse_alertmanager_payload
from webhook_receiver.store import open_store
from webhook_receiver.store.episodes import EpisodeCause, HistoryTables


def test_alerts_names_the_silences_and_inhibitions_the_history_knows(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    store.migrate()
    try:
        store.ingest(parse_alertmanager_payload(am_payload(
            am_alert("ExchangeFrozen", "P0", labels={"exchange": "upbit"}),
            am_alert("ExchangeDown", "P1", labels={"exchange": "upbit"}),
            am_alert("RouteScoreLow", "P2", labels={"route": "upbit-binance-BTC"}, source="arb_route"))))
        now = datetime.now(UTC)
        with store.transaction() as tx:
            t = HistoryTables(store)
            t.open_episode(tx, 1, EpisodeCause("silenced", "0b6c1b2e-1111", "kim", "maintenance", now,
                                               now + timedelta(hours=1)))
            t.open_episode(tx, 2, EpisodeCause("inhibited", "fp-1", inhibiting_alertname="ExchangeFrozen",
                                               inhibiting_alert_id=1))
        outbox = Outbox(store)
        console = OperatorConsole(store, outbox, AlertActions(store, outbox), None)
        lines = parse_telegram_html(console.run(parse_command("/alerts"), "kim").text).splitlines()
        frozen = next(x for x in lines if "ExchangeFrozen" in x)
        down = next(x for x in lines if "ExchangeDown" in x)
        route = next(x for x in lines if "RouteScoreLow" in x)
        assert "muted (silence 0b6c1b2e)" in frozen, frozen
        assert "muted (inhibited by ExchangeFrozen)" in down, down
        assert "muted" not in route, route
    finally:
        store.close()
