"""`ChainHealth` (webhook_receiver/notify/chain_health.py) on an SQLite history with a moved clock: the
Watchdog (recent, silent, never seen, resolved), a P0 waiting in the outbox (due or scheduled, graphs
not counted), channels' calls failing on every receiver (a success anywhere ends a streak, reports
of dead processes do not count), storage down."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.fakes.payloads import am_alert, am_payload
from webhook_receiver.errors import StorageUnavailable
from webhook_receiver.notify.chain_health import ChainHealth, ChannelHealthReports
from webhook_receiver.notify.channels.health import HealthSnapshot
from webhook_receiver.notify.outbox import Outbox
from webhook_receiver.payload import parse_alertmanager_payload
from webhook_receiver.store import AlertStore

T0 = datetime.now(UTC)


class Clock:
    """Starts at the real time (rows are stored with the store's clock), then moved by hand."""

    def __init__(self) -> None:
        self.t0 = self.t = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.t

    def at(self, seconds: float) -> None:
        self.t = self.t0 + timedelta(seconds=seconds)


class Reporting:
    """A channel that reports its calls' health (Telegram does)."""

    def __init__(self) -> None:
        self.snapshot: HealthSnapshot | None = HealthSnapshot(last_ok_at=T0)

    def health(self) -> HealthSnapshot | None:
        return self.snapshot


def chain(store: AlertStore, clock: Clock, channels: dict[str, Any] | None = None, **kw: Any) -> ChainHealth:
    kw.setdefault("deadman_timeout", 40)
    return ChainHealth(store, channels=channels if channels is not None else {"telegram": object()}, now=clock, **kw)


def watchdog(store: AlertStore, status: str = "firing", starts: str = "2026-11-23T01:00:00Z") -> None:
    store.ingest(parse_alertmanager_payload(am_payload(
        am_alert("Watchdog", "none", status=status, starts_at=starts, source="system"), receiver="d76-watchdog")))


def test_the_watchdog_healthy_silent_never_seen_and_resolved(store):
    clock = Clock()
    c = chain(store, clock)
    assert c.check().healthy and c.check().facts == {"Watchdog": "not yet seen"}
    clock.at(41)
    v = c.check()
    assert not v.healthy and v.reasons == ("no Watchdog since this receiver started 41 s ago "
                                           "(DEADMAN_TIMEOUT_SECONDS=40)",)
    watchdog(store)  # arrives now (the store's own clock)
    clock.t = datetime.now(UTC)
    v = c.check()
    assert v.healthy and v.text.startswith("ok: Watchdog ")
    clock.at(100)
    assert c.check().reasons[0].startswith("no Watchdog for 10") and "DEADMAN_TIMEOUT_SECONDS=40" in c.check().text
    clock.t = datetime.now(UTC)
    watchdog(store, "resolved")  # Alertmanager let it go: nobody renews it
    v = c.check()
    assert not v.healthy and v.reasons[0].startswith("Watchdog resolved: Prometheus stopped sending it")
    watchdog(store, starts="2026-11-23T02:00:00Z")  # Prometheus back: a new occurrence fires
    assert c.check().healthy


def _p0(store: AlertStore, key: str, **row: Any) -> None:
    Outbox(store).enqueue_now([{"channel": "telegram", "destination": "-1", "kind": "firing", "severity": "P0",
                                "dedupe_key": key, **row}])


def test_a_p0_waiting_in_the_outbox_breaks_the_chain_after_the_limit(store):
    _p0(store, "a")
    clock = Clock()
    c = chain(store, clock, p0_wait=60, deadman_timeout=3600)
    assert c.check().healthy
    clock.at(59)
    assert c.check().healthy
    clock.at(75)
    v = c.check()
    assert not v.healthy and v.reasons == ("a P0 notification has waited 75 s in the outbox (over 60 s)",)
    Outbox(store).complete([r["id"] for r in Outbox(store).list()], "sent")
    assert c.check().healthy
    # not counted: a row scheduled for later and never tried, a graph, another severity, a channel
    # this receiver does not deliver
    _p0(store, "later", next_attempt_at=T0 + timedelta(hours=1))
    _p0(store, "graph", kind="graph")
    _p0(store, "p1", severity="P1")
    Outbox(store).enqueue_now([{"channel": "gone", "destination": "x", "kind": "firing", "severity": "P0",
                                "dedupe_key": "gone"}])
    assert c.check().healthy
    # a P0 being retried (tried once, waiting for its back-off) still counts
    rows = [r for r in Outbox(store).list() if r["dedupe_key"] == "later"]
    Outbox(store).retry(rows, "502", 3600, count_failure=True, max_failures=10)
    with store.transaction() as tx:
        tx.execute("UPDATE notifications SET attempts = 1 WHERE dedupe_key = 'later'")
    assert "a P0 notification has waited" in c.check().text


def test_channel_calls_failing_everywhere_break_the_chain(store):
    clock = Clock()
    watchdog(store)
    tg = Reporting()
    c = chain(store, clock, {"telegram": tg}, channel_failing=120, report_fresh=180, deadman_timeout=3600)
    reports = ChannelHealthReports(store)
    start = datetime.now(UTC)

    def failing(since: float, last: float, error: str = "telegram sendMessage: timed out after 10s") -> HealthSnapshot:
        return HealthSnapshot(last_ok_at=start - timedelta(seconds=500), failing_since=start + timedelta(seconds=since),
                              last_failure_at=start + timedelta(seconds=last), last_error=error)

    c.report_local("me")
    assert c.check().healthy
    tg.snapshot = failing(0, 90)
    c.report_local("me")
    assert c.check().healthy  # failing for 90 s: not yet
    tg.snapshot = failing(0, 130)
    c.report_local("me")
    v = c.check()
    assert not v.healthy
    assert v.reasons == ("telegram calls failing for 130 s: telegram sendMessage: timed out after 10s",)
    # another receiver got through since the streak began: Telegram works (this receiver's way to it may not)
    reports.report("other", {"telegram": HealthSnapshot(last_ok_at=start + timedelta(seconds=100))})
    assert c.check().healthy
    reports.report("other", {"telegram": HealthSnapshot(last_ok_at=start - timedelta(seconds=600))})
    assert not c.check().healthy
    # a report not renewed for longer than report_fresh is of a process that is gone
    clock.at(200)
    with store.transaction() as tx:
        tx.execute("UPDATE channel_health SET updated_at = %s WHERE owner = 'me'",
                   (store.dialect.time_in(clock.t0 - timedelta(seconds=10)),))
    assert "telegram" not in c.check().text
    # a dry run (no snapshot) reports nothing
    tg.snapshot = None
    c.report_local("dry")
    with store.transaction(write=False) as tx:
        assert tx.fetchone("SELECT count(*) AS n FROM channel_health WHERE owner = 'dry'")["n"] == 0


class DownStore:
    """The parts of a store the check uses, with storage down."""

    class dialect:
        name = "postgresql"

    def ping(self) -> None:
        raise StorageUnavailable("postgresql: unavailable for 3.0s (connection refused); reconnecting")


def test_storage_down_is_said_without_details():
    v = ChainHealth(DownStore(), deadman_timeout=40, channels={}).check()  # type: ignore[arg-type]
    assert not v.healthy and v.reasons == ("storage unavailable (postgresql)",)
