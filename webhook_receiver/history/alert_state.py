"""What state an alert is in now, the one answer every screen gives: the pages, `d76 history` and the
`/alerts` command.

An alert can be silenced without the receiver having made the silence: `d76 silence create
exchange=upbit`, `d76 silence create --alert N`, `amtool` or Alertmanager's own UI all go straight to
Alertmanager. The alert row's `silence_id` is set only by the receiver's own actions (the buttons,
`/silence`, the API); the truth about the others is what Alertmanager reports, which the history
reconciler records every few seconds as suppressed episodes (`suppressed_episodes`: the silence with
its author, reason and end, the inhibiting alert, the maintenance window). So the state is read from
both: the open episodes, then the row's own silence while it lasts.

States, in the order one wins over the next: `resolved`; `silenced` (an Alertmanager silence),
`muted` (a maintenance window: `/mute`'s silence or a recurring window), `inhibited` (a more severe
alert hides it); `acked`; `firing`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from vocabulary import IDENTIFYING_LABELS, AlertStatus

from ..store.base import AlertStore, Transaction, in_lists
from ..store.episodes import HistoryTables
from ..timefmt import fmt_time

__all__ = ["Suppression", "AlertState", "STATES", "alert_states", "state_of", "where"]

_NOT_WHERE = frozenset({"alertname", "severity", "source", "job", "instance", "replica"})
STATES = ("firing", "silenced", "muted", "inhibited", "acked", "resolved")
_RANK = {"silenced": 0, "muted": 1, "inhibited": 2}


@dataclass(frozen=True)
class Suppression:
    """One reason Alertmanager holds an alert's notifications back right now."""

    kind: str  # silenced | muted | inhibited
    cause: str  # the silence id, the maintenance window's name, or the inhibiting alert's fingerprint
    by: str | None = None  # the silence's author
    comment: str | None = None
    until: datetime | None = None  # the silence's end
    since: datetime | None = None
    mute_id: int | None = None  # `/mute`'s maintenance window (its silence)
    window: str | None = None  # a recurring maintenance window's name
    inhibiting_alertname: str | None = None
    inhibiting_alert_id: int | None = None

    def describe(self, tz: tzinfo | None = None) -> str:
        """One line: `silenced by kim until 2026-12-04 20:56:10 UTC: upbit maintenance (silence 0b6c1b2e)`."""
        if self.kind == "inhibited":
            what = self.inhibiting_alertname or "a more severe alert"
            return f"inhibited by {what}" + (f" (#{self.inhibiting_alert_id})" if self.inhibiting_alert_id else "")
        if self.window:
            return f"muted by the maintenance window {self.window}"
        parts = [self.kind]
        if self.by:
            parts.append(f"by {self.by}")
        if self.until:
            parts.append(f"until {fmt_time(self.until, tz)}")
        text = " ".join(parts)
        if self.comment:
            text += f": {self.comment}"
        ref = f"maintenance #{self.mute_id}, silence {self.cause[:8]}" if self.mute_id else f"silence {self.cause[:8]}"
        return f"{text} ({ref})"


@dataclass(frozen=True)
class AlertState:
    name: str  # one of STATES
    suppressions: tuple[Suppression, ...] = ()
    acked: bool = False

    @property
    def suppressed(self) -> bool:
        return bool(self.suppressions)

    def first(self, kind: str) -> Suppression | None:
        return next((s for s in self.suppressions if s.kind == kind), None)


def _mute_ids(tx: Transaction, silence_ids: Iterable[str]) -> dict[str, int]:
    """`/mute`'s maintenance windows by their Alertmanager silence id."""
    out: dict[str, int] = {}
    for chunk, marks in in_lists(sorted(set(silence_ids))):
        for r in tx.fetchall(f"SELECT id, silence_id FROM maintenance_windows WHERE silence_id IN ({marks})", chunk):
            out[str(r["silence_id"])] = int(r["id"])
    return out


def state_of(row: Mapping[str, Any], episodes: Iterable[Mapping[str, Any]], mutes: Mapping[str, int],
             now: datetime | None = None) -> AlertState:
    """The state of one alert row from its episodes (any: only those still open count) and the
    `/mute` windows' silence ids (silence id -> window id)."""
    now = now or datetime.now(UTC)
    acked = bool(row.get("acknowledged"))
    if row.get("status") == AlertStatus.RESOLVED:
        return AlertState("resolved", (), acked)
    found: list[Suppression] = []
    for e in episodes:
        if e.get("ended_at") is not None:
            continue
        kind, cause = str(e["kind"]), str(e["cause"])
        if kind == "silenced":
            ends = e.get("silence_ends_at")
            if ends is not None and ends <= now:
                continue  # ran out since the last reconciliation: the next one closes it
            mute = mutes.get(cause)
            found.append(Suppression("muted" if mute else "silenced", cause, e.get("silence_created_by"),
                                     e.get("silence_comment"), ends, e.get("started_at"), mute_id=mute))
        elif kind == "muted":
            found.append(Suppression("muted", cause, since=e.get("started_at"), window=cause))
        else:
            found.append(Suppression("inhibited", cause, since=e.get("started_at"),
                                     inhibiting_alertname=e.get("inhibiting_alertname"),
                                     inhibiting_alert_id=e.get("inhibiting_alert_id")))
    own, until = row.get("silence_id"), row.get("silenced_until")
    if own and until is not None and until > now and not any(s.cause == own for s in found):
        # set by the receiver's own action; Alertmanager has not been polled since
        mute = mutes.get(str(own))
        found.append(Suppression("muted" if mute else "silenced", str(own), until=until, since=row.get("silenced_at"),
                                 mute_id=mute))
    found.sort(key=lambda s: _RANK[s.kind])
    if found:
        return AlertState(found[0].kind, tuple(found), acked)
    return AlertState("acked" if acked else "firing", (), acked)


def alert_states(store: AlertStore, rows: Iterable[Mapping[str, Any]], *, now: datetime | None = None,
                 tx: Transaction | None = None) -> dict[int, AlertState]:
    """The state of each alert row (by id), reading their episodes and `/mute` windows in one
    transaction."""
    rows = list(rows)
    if tx is None:
        with store.transaction(write=False) as own:
            return alert_states(store, rows, now=now, tx=own)
    firing = [int(r["id"]) for r in rows if r.get("status") != AlertStatus.RESOLVED]
    episodes = HistoryTables(store).episodes_for(firing, tx) if firing else {}
    causes = [str(e["cause"]) for eps in episodes.values() for e in eps if e["kind"] == "silenced"]
    causes += [str(r["silence_id"]) for r in rows if r.get("silence_id")]
    mutes = _mute_ids(tx, causes) if causes else {}
    return {int(r["id"]): state_of(r, episodes.get(int(r["id"]), ()), mutes, now) for r in rows}


def where(labels: Mapping[str, Any], most: int = 3) -> list[tuple[str, str]]:
    """Where an alert is, as every screen says it: its identifying labels (exchange, route, symbol,
    ...), else its other telling labels (`category`, `path`, `channel`), else its instance."""
    first = [(k, str(labels[k])) for k in IDENTIFYING_LABELS if labels.get(k)]
    rest = sorted((str(k), str(v)) for k, v in labels.items() if k not in IDENTIFYING_LABELS and k not in _NOT_WHERE
                  and v)
    found = (first + rest)[:most]
    if not found and labels.get("instance"):
        found = [("instance", str(labels["instance"]))]
    return found
