"""`LaneRunner` (webhook_receiver/notify/dispatcher.py) with a fake channel and a fake clock, on an
SQLite history in a temporary folder: what one step does with the lane's rows, how the channel's
limits pace it, what each kind of failure does, and which abilities it asks the channel for (the P0
reserve from its limits, graphs only from a channel that sends photos, answers only from one that
renders them)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from tests.support.fakes.payloads import am_alert, am_payload
from webhook_receiver.notify.channel_map import DEFAULT_CHANNEL_MAP
from webhook_receiver.notify.channels.base import (
    Channel,
    ChannelLimits,
    DeliveryError,
    Destination,
    Part,
    SendsPhotos,
    TailCount,
)
from webhook_receiver.notify.dispatcher import Dispatcher, LaneRunner
from webhook_receiver.notify.model import Notice
from webhook_receiver.notify.outbox import Lane, Outbox
from webhook_receiver.notify.settings import NotifySettings
from webhook_receiver.payload import parse_alertmanager_payload
from webhook_receiver.store import AlertStore

ROOM = "room"
LANE = Lane("fake", ROOM)
FREE = ChannelLimits(min_interval=0.0, per_minute=10_000)


class Clock:
    """The dispatcher's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@dataclass(frozen=True)
class FakeSettings:
    """A channel's settings class: this one reads no variable."""


class FakeChannel:
    """Records what it is asked to send; raises the errors queued in `fail`."""

    name: ClassVar[str] = "fake"
    settings: ClassVar[type] = FakeSettings
    settings_keys: ClassVar[tuple[str, ...]] = ()
    per_alert: ClassVar[bool] = True
    can_edit: ClassVar[bool] = True

    def __init__(self, limits: ChannelLimits = FREE) -> None:
        self.limits = limits
        self.sent: list[tuple[str, Part, str | None]] = []
        self.edits: list[tuple[str, str, Part]] = []
        self.fail: list[DeliveryError] = []

    @classmethod
    def from_settings(cls, raw: Mapping[str, str], notify: NotifySettings) -> FakeChannel | None:
        return None

    def destinations(self, severity: str, labels: Mapping[str, str]) -> list[Destination]:
        return [Destination(ROOM)]

    def render_single(self, notice: Notice, destination: str) -> list[Part]:
        assert notice.alert is not None
        return [Part(f"{notice.kind} {notice.alert.alertname} {notice.alert.labels.get('exchange', '')}")]

    def render_packed(self, notices: Sequence[Notice], destination: str, *, tail: Sequence[TailCount] = (),
                      fit: bool = True, message_ref: int | None = None) -> tuple[Part, int]:
        names = [n.alert.labels.get("exchange", "") for n in notices if n.alert is not None]
        return Part("packed " + " ".join(names)), len(notices)

    def send(self, destination: str, part: Part, *, reply_to: str | None = None) -> str | None:
        if self.fail:
            raise self.fail.pop(0)
        self.sent.append((destination, part, reply_to))
        return str(len(self.sent))

    def edit(self, destination: str, remote_id: str, part: Part) -> None:
        self.edits.append((destination, remote_id, part))


class PhotoChannel(FakeChannel):
    def __init__(self, limits: ChannelLimits = FREE) -> None:
        super().__init__(limits)
        self.photos: list[tuple[str, bytes, str | None]] = []

    def send_photo(self, destination: str, png: bytes, caption: str, *, reply_to: str | None = None,
                   thread_id: int | None = None, quiet: bool = True) -> str | None:
        self.photos.append((destination, png, reply_to))
        return "photo"


def dispatcher(store: AlertStore, channel: Channel, clock: Clock, **settings: Any) -> Dispatcher:
    s = NotifySettings(**{"backoff_base_seconds": 1.0, "backoff_cap_seconds": 30.0, **settings})
    return Dispatcher(store, Outbox(store), {"fake": channel}, s, DEFAULT_CHANNEL_MAP, clock=clock, worker_id="w1")


def queue(store: AlertStore, *exchanges: str, severity: str = "P1", kind: str = "firing") -> list[int]:
    """Alerts stored, and one row each on the fake lane (as the planner would queue them)."""
    ids = []
    for ex in exchanges:
        res = store.ingest(parse_alertmanager_payload(am_payload(
            am_alert("ExchangeDown", severity, labels={"exchange": ex}))))
        ids.append(res.changes[0].alert_id)
    Outbox(store).enqueue_now([{"alert_id": i, "channel": LANE.channel, "destination": LANE.destination,
                                "kind": kind, "severity": severity, "dedupe_key": f"{i}:fake:{ROOM}:{kind}"}
                               for i in ids])
    return ids


def rows(store: AlertStore) -> list[dict[str, Any]]:
    return Outbox(store).list()


def runner(d: Dispatcher) -> LaneRunner:
    r = d.runner(LANE)
    assert r is not None
    return r


def test_one_alert_goes_alone_and_is_recorded_sent(store: AlertStore) -> None:
    ch, clock = FakeChannel(), Clock()
    [aid] = queue(store, "upbit")
    r = runner(dispatcher(store, ch, clock))
    assert r.step() == ("sent", 1.0)
    assert [p.text for _, p, _ in ch.sent] == ["firing ExchangeDown upbit"]
    [row] = rows(store)
    assert row["status"] == "sent" and row["alert_id"] == aid and row["message_ref"] is not None
    assert r.step() == ("idle", 0.0)  # nothing left


def test_several_waiting_are_packed_into_one_message(store: AlertStore) -> None:
    """More waiting than the lane could send within the horizon (0 s here: any two): one message."""
    ch = FakeChannel()
    queue(store, "upbit", "okx", "kraken")
    r = runner(dispatcher(store, ch, Clock(), full_within_seconds=0.0))
    assert r.step() == ("sent", 3.0)
    assert len(ch.sent) == 1 and ch.sent[0][1].text.startswith("packed ")
    assert sorted(ch.sent[0][1].text.split()[1:]) == ["kraken", "okx", "upbit"]
    assert {row["status"] for row in rows(store)} == {"sent"}


def test_as_many_as_the_lane_sends_within_the_horizon_are_told_in_full(store: AlertStore) -> None:
    """Telegram's 1.05 s a chat: three waiting go within 5 s, one full message each; six do not."""
    ch, clock = FakeChannel(ChannelLimits(min_interval=1.05, per_minute=20)), Clock()
    r = runner(dispatcher(store, ch, clock, full_within_seconds=5.0))
    queue(store, "upbit", "okx", "kraken")
    for _ in range(3):
        what, at = r.step()
        if what == "wait":
            clock.t = at
            what, at = r.step()
        assert (what, at) == ("sent", 1.0) and not ch.sent[-1][1].text.startswith("packed ")
    assert len(ch.sent) == 3
    queue(store, "a", "b", "c", "d", "e", "f")
    clock.t += 1.05
    assert r.step() == ("sent", 6.0) and ch.sent[-1][1].text.startswith("packed ")


def test_the_channel_limits_pace_the_lane_on_its_clock(store: AlertStore) -> None:
    ch, clock = FakeChannel(ChannelLimits(min_interval=1.5, per_minute=20)), Clock()
    r = runner(dispatcher(store, ch, clock))
    queue(store, "upbit")
    assert r.step() == ("sent", 1.0)
    queue(store, "okx")
    what, at = r.step()
    assert (what, at) == ("wait", 1001.5) and len(ch.sent) == 1  # not before min_interval has passed
    clock.t = 1001.5
    assert r.step() == ("sent", 1.0) and len(ch.sent) == 2


def test_the_p0_reserve_comes_from_the_channel_limits(store: AlertStore) -> None:
    limits = ChannelLimits(min_interval=0.0, per_minute=5, p0_reserve_per_minute=2)
    assert runner(dispatcher(store, FakeChannel(limits), Clock())).pacer.p0_reserve == 2
    assert runner(dispatcher(store, FakeChannel(FREE), Clock())).pacer.p0_reserve == 0
    # the reserve at work: three P2 use the 5 - 2 slots a minute lower severities get; a P0 still goes
    ch, clock = FakeChannel(limits), Clock()
    r = runner(dispatcher(store, ch, clock))
    for ex in ("a", "b", "c", "d"):
        queue(store, ex, severity="P2")
        r.step()
    assert len(ch.sent) == 3 and r.step()[0] == "wait"
    queue(store, "upbit", severity="P0")
    assert r.step() == ("sent", 1.0) and ch.sent[-1][1].text == "firing ExchangeDown upbit"


def test_a_rate_limit_holds_the_lane_without_counting_a_failure(store: AlertStore) -> None:
    ch, clock = FakeChannel(), Clock()
    ch.fail.append(DeliveryError("429", retry_after=7.0, status=429))
    d = dispatcher(store, ch, clock)
    r = runner(d)
    queue(store, "upbit")
    assert r.step() == ("sent", 1.0)  # the slot was used, the row waits
    [row] = rows(store)
    assert row["status"] == "pending" and row["payload"] == {"rate_limited": 1}
    assert r.pacer.next_slot(urgent=True) == clock.t + 7.0 and r.failures_in_row == 0
    assert d.metrics.rate_limited.labels("fake")._value.get() == 1


def test_server_errors_back_the_lane_off_doubling(store: AlertStore) -> None:
    ch, clock = FakeChannel(), Clock()
    ch.fail += [DeliveryError("502"), DeliveryError("502")]
    r = runner(dispatcher(store, ch, clock, max_failures=10))
    [aid] = queue(store, "upbit")
    r.step()
    assert r.failures_in_row == 1 and r.pacer.next_slot(urgent=True) == clock.t + 1.0
    # the row's own retry time is the wall clock's (the database's): make it due again at once
    Outbox(store).retry(rows(store), "due now", 0.0, count_failure=False, max_failures=10)
    assert r.step()[0] == "wait"  # the lane is backing off
    clock.t += 1.0
    r.step()
    assert r.failures_in_row == 2 and r.pacer.next_slot(urgent=True) == clock.t + 2.0
    [row] = rows(store)
    assert row["status"] == "pending" and row["payload"]["failures"] == 2 and row["alert_id"] == aid
    clock.t += 2.0
    Outbox(store).retry(rows(store), "due now", 0.0, count_failure=False, max_failures=10)
    assert r.step() == ("sent", 1.0) and r.failures_in_row == 0 and rows(store)[0]["status"] == "sent"


def test_a_permanent_error_fails_the_row(store: AlertStore) -> None:
    ch = FakeChannel()
    ch.fail.append(DeliveryError("403 blocked", permanent=True, status=403))
    d = dispatcher(store, ch, Clock())
    queue(store, "upbit")
    runner(d).step()
    [row] = rows(store)
    assert row["status"] == "failed" and "403 blocked" in row["last_error"]
    assert d.metrics.failed.labels("fake", "firing")._value.get() == 1


def test_another_holder_of_the_lane_makes_it_busy(store: AlertStore) -> None:
    ch = FakeChannel()
    queue(store, "upbit")
    first = runner(dispatcher(store, ch, Clock()))
    assert first.step() == ("sent", 1.0)
    queue(store, "okx")
    other = Dispatcher(store, Outbox(store), {"fake": ch}, NotifySettings(), DEFAULT_CHANNEL_MAP, clock=Clock(),
                       worker_id="w2")
    assert runner(other).step() == ("busy", 0.0) and len(ch.sent) == 1
    first.release()
    assert runner(other).step() == ("sent", 1.0)


def test_graphs_follow_pages_only_on_a_channel_that_sends_photos(store: AlertStore) -> None:
    graphs = {"graphs_enabled": True, "prometheus_url": "http://127.0.0.1:9", "graph_severities": ("P0",)}
    plain, photos = FakeChannel(), PhotoChannel()
    assert not isinstance(plain, SendsPhotos) and isinstance(photos, SendsPhotos)
    queue(store, "upbit", severity="P0")
    runner(dispatcher(store, plain, Clock(), **graphs)).step()
    assert [r["kind"] for r in rows(store)] == ["firing"]  # no graph for a channel without photos
    d = dispatcher(store, photos, Clock(), **graphs)
    queued: list[bool] = []
    d.on_graph_queued = lambda: queued.append(True)
    queue(store, "okx", severity="P0")
    runner(d).step()
    graph_rows = [r for r in rows(store) if r["kind"] == "graph"]
    assert len(graph_rows) == 1 and graph_rows[0]["status"] == "rendering" and queued == [True]
    assert graph_rows[0]["payload"]["reply_to"] == "1"  # the page it follows


def test_a_command_answer_on_a_channel_that_cannot_render_it_fails(store: AlertStore) -> None:
    Outbox(store).enqueue_now([{"channel": LANE.channel, "destination": ROOM, "kind": "reply",
                                "dedupe_key": "reply:1", "payload": {"text": "hi"}}])
    ch = FakeChannel()
    runner(dispatcher(store, ch, Clock())).step()
    [row] = rows(store)
    assert row["status"] == "failed" and "does not answer commands" in row["last_error"] and ch.sent == []
