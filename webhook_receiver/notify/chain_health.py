"""Is the whole chain healthy? What the heartbeat (`notify.heartbeat`) tells the outside world.

The chain is healthy when all of these hold (each read from the database, so whichever receiver
holds the heartbeat lease knows, wherever the Watchdog or the deliveries happened):

- storage answers (`AlertStore.ping`);
- the Watchdog arrived within DEADMAN_TIMEOUT_SECONDS (Prometheus -> Alertmanager -> a receiver
  works; what the dead man's switch knows, `deadman.watchdog_status`) and its newest occurrence is
  not resolved (a resolved Watchdog means Prometheus stopped renewing it: it is gone);
- no due P0 notification has waited over `p0_wait` seconds in the outbox;
- the calls of no channel that reports its health (Telegram) have been failing, on every receiver,
  for over `channel_failing` seconds.

`ChannelHealthReports` keeps each receiver's view of its channels' calls (`channel_health`, one row
per channel and receiver process, written every heartbeat interval by every receiver): a call that
succeeded anywhere since a failing streak began ends that streak.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from vocabulary import NotificationKind, NotificationStatus, Severity

from ..errors import StorageUnavailable
from ..store.base import AlertStore
from .channels.base import Channel, ReportsHealth
from .channels.health import HealthSnapshot
from .deadman import watchdog_status

__all__ = ["ChainHealth", "ChannelHealthReports", "Verdict", "ChannelFailure"]

log = logging.getLogger("d76.notify.heartbeat")
REPORTS_KEPT = timedelta(days=1)  # rows of processes gone this long are deleted


@dataclass(frozen=True)
class Verdict:
    """The chain's state: healthy or not, and in words why (what the fail call's body says)."""

    healthy: bool
    reasons: tuple[str, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        if self.healthy:
            return "ok: " + ", ".join(f"{k} {v}" for k, v in self.facts.items()) if self.facts else "ok"
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class ChannelFailure:
    """A channel whose calls have been failing everywhere for `seconds` (the longest streak)."""

    channel: str
    seconds: float
    last_error: str | None


def _ago(now: datetime, then: datetime) -> int:
    return max(0, round((now - then).total_seconds()))


class ChannelHealthReports:
    """The `channel_health` table: each receiver process's view of each channel's calls."""

    def __init__(self, store: AlertStore) -> None:
        self.store = store
        self.d = store.dialect

    def report(self, owner: str, snapshots: Mapping[str, HealthSnapshot]) -> None:
        d = self.d
        with self.store.transaction() as tx:
            for channel, s in snapshots.items():
                tx.execute(
                    "INSERT INTO channel_health (channel, owner, last_ok_at, failing_since, last_failure_at, "
                    "last_error, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (channel, owner) DO UPDATE SET last_ok_at = excluded.last_ok_at, "
                    "failing_since = excluded.failing_since, last_failure_at = excluded.last_failure_at, "
                    "last_error = excluded.last_error, updated_at = excluded.updated_at",
                    (channel, owner, d.time_in(s.last_ok_at), d.time_in(s.failing_since),
                     d.time_in(s.last_failure_at), s.last_error, d.time_in(tx.now)))
            tx.execute("DELETE FROM channel_health WHERE updated_at < %s", (d.time_in(tx.now - REPORTS_KEPT),))

    def failing(self, channel: str, fresh_since: datetime) -> ChannelFailure | None:
        """The channel's longest failing streak that no success anywhere has ended, among the reports
        written since `fresh_since` (older ones are of processes that are gone), or None."""
        d = self.d
        with self.store.transaction(write=False) as tx:
            rows = tx.fetchall("SELECT last_ok_at, failing_since, last_failure_at, last_error FROM channel_health "
                               "WHERE channel = %s AND updated_at >= %s", (channel, d.time_in(fresh_since)))
        oks = [t for t in (d.time_out(r["last_ok_at"]) for r in rows) if t is not None]
        last_ok = max(oks, default=None)
        worst: ChannelFailure | None = None
        for r in rows:
            since, last = d.time_out(r["failing_since"]), d.time_out(r["last_failure_at"])
            if since is None or last is None:
                continue
            start = max(since, last_ok) if last_ok is not None else since
            span = (last - start).total_seconds()
            if span > 0 and (worst is None or span > worst.seconds):
                worst = ChannelFailure(channel, span, r["last_error"])
        return worst


class ChainHealth:
    def __init__(self, store: AlertStore, *, deadman_timeout: float, channels: Mapping[str, Channel],
                 p0_wait: float = 60.0, channel_failing: float = 120.0, report_fresh: float = 180.0,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """`report_fresh`: how old another receiver's channel report may be and still count."""
        self.store = store
        self.deadman_timeout = deadman_timeout
        self.channels = dict(channels)
        self.p0_wait = p0_wait
        self.channel_failing = channel_failing
        self.report_fresh = report_fresh
        self.now = now
        self.started_at = now()
        self.reports = ChannelHealthReports(store)

    def reporting(self) -> dict[str, ReportsHealth]:
        return {name: ch for name, ch in self.channels.items() if isinstance(ch, ReportsHealth)}

    def report_local(self, owner: str) -> None:
        """Write this process's view of its channels' calls (every receiver does, every interval)."""
        snapshots = {name: s for name, ch in self.reporting().items() if (s := ch.health()) is not None}
        if snapshots:
            self.reports.report(owner, snapshots)

    def check(self) -> Verdict:
        now = self.now()
        try:
            self.store.ping()
        except StorageUnavailable:
            return Verdict(False, (f"storage unavailable ({self.store.dialect.name})",))
        reasons: list[str] = []
        facts: dict[str, str] = {}
        try:
            self._watchdog(now, reasons, facts)
            self._outbox(now, reasons)
            self._channels(now, reasons)
        except StorageUnavailable:
            return Verdict(False, (f"storage unavailable ({self.store.dialect.name})",))
        return Verdict(not reasons, tuple(reasons), facts)

    # the parts -------------------------------------------------------------------------------------
    def _watchdog(self, now: datetime, reasons: list[str], facts: dict[str, str]) -> None:
        status = watchdog_status(self.store)
        limit = f"(DEADMAN_TIMEOUT_SECONDS={self.deadman_timeout:g})"
        if status.last_seen is None:
            since_start = (now - self.started_at).total_seconds()
            if since_start > self.deadman_timeout:
                reasons.append(f"no Watchdog since this receiver started {round(since_start)} s ago {limit}")
            else:
                facts["Watchdog"] = "not yet seen"
            return
        silent = (now - status.last_seen).total_seconds()
        if status.resolved:
            reasons.append(f"Watchdog resolved: Prometheus stopped sending it (last arrived {round(silent)} s ago)")
        elif silent > self.deadman_timeout:
            reasons.append(f"no Watchdog for {round(silent)} s {limit}")
        else:
            facts["Watchdog"] = f"{round(silent)} s ago"

    def _outbox(self, now: datetime, reasons: list[str]) -> None:
        """The oldest P0 notification still waiting to be told (due: its first attempt's time has come,
        or it was tried already) on a channel this receiver delivers."""
        oldest = self._oldest_p0(now, list(self.channels))
        if oldest is not None and (waited := (now - oldest).total_seconds()) > self.p0_wait:
            reasons.append(f"a P0 notification has waited {round(waited)} s in the outbox "
                           f"(over {self.p0_wait:g} s)")

    def _oldest_p0(self, now: datetime, channels: Sequence[str]) -> datetime | None:
        if not channels:
            return None
        d = self.store.dialect
        marks = ", ".join(["%s"] * len(channels))
        with self.store.transaction(write=False) as tx:
            row = tx.fetchone(
                "SELECT min(created_at) AS t FROM notifications WHERE severity = %s AND status IN (%s, %s) "
                f"AND kind <> %s AND channel IN ({marks}) AND (attempts > 0 OR next_attempt_at <= %s)",
                (Severity.P0, NotificationStatus.PENDING, NotificationStatus.SENDING, NotificationKind.GRAPH,
                 *channels, d.time_in(now)))
        return d.time_out(row["t"]) if row is not None and row["t"] is not None else None

    def _channels(self, now: datetime, reasons: list[str]) -> None:
        fresh = now - timedelta(seconds=self.report_fresh)
        for name in self.reporting():
            failure = self.reports.failing(name, fresh)
            if failure is not None and failure.seconds > self.channel_failing:
                error = f": {failure.last_error}" if failure.last_error else ""
                reasons.append(f"{name} calls failing for {round(failure.seconds)} s{error}")
