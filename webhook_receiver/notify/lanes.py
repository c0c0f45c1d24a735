"""Who delivers a lane: one receiver process at a time, by lease.

A lane is one destination of one channel (a Telegram chat, a Slack webhook). Telegram's limits are
per chat, and packing needs every waiting row of a chat at once, so exactly one process drives a
lane; the others leave it alone until the holder's lease runs out (it renews at every step, so a
lease only runs out when its holder died or hung). Several receivers on one database therefore
share one budget per chat by construction.

Times are the processes' wall clocks: hosts sharing a database need synchronised clocks (NTP),
as for any lease.
"""
from __future__ import annotations

from datetime import timedelta

from ..store.base import AlertStore, utcnow
from .outbox import Lane

__all__ = ["LaneLeases"]


class LaneLeases:
    def __init__(self, store: AlertStore, owner: str, lease_seconds: float = 8.0) -> None:
        self.store = store
        self.owner = owner
        self.lease_seconds = lease_seconds

    def acquire(self, lane: Lane) -> bool:
        """Take the lane, or renew our lease on it; False while another live process holds it."""
        d = self.store.dialect
        with self.store.transaction() as tx:
            now = tx.now
            row = tx.fetchone(
                "INSERT INTO notify_lanes (channel, destination, owner, lease_until) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (channel, destination) DO UPDATE SET owner = excluded.owner, "
                "lease_until = excluded.lease_until "
                "WHERE notify_lanes.owner = excluded.owner OR notify_lanes.lease_until IS NULL "
                "OR notify_lanes.lease_until < %s RETURNING owner",
                (lane.channel, lane.destination, self.owner,
                 d.time_in(now + timedelta(seconds=self.lease_seconds)), d.time_in(now)))
        return row is not None and row["owner"] == self.owner

    def release(self, lane: Lane) -> None:
        with self.store.transaction() as tx:
            tx.execute("UPDATE notify_lanes SET lease_until = NULL WHERE channel = %s AND destination = %s "
                       "AND owner = %s", (lane.channel, lane.destination, self.owner))

    def holder(self, lane: Lane) -> tuple[str | None, bool]:
        """(owner, lease still valid)."""
        d = self.store.dialect
        with self.store.transaction(write=False) as tx:
            row = tx.fetchone("SELECT owner, lease_until FROM notify_lanes WHERE channel = %s AND destination = %s",
                              (lane.channel, lane.destination))
        if row is None:
            return None, False
        until = d.time_out(row["lease_until"])
        return row["owner"], bool(until and until > utcnow())
