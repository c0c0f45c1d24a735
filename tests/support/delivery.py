"""Counting what was stored and told, for tests that fire many alerts at once (HA, faults).

Each alert in such a test carries a unique label value (e.g. `exchange="ha017"`), so it can be found
in the history, in the outbox and in the text of the Telegram messages. `delivery_report(...)`
gathers, per value:

- `rows`: the alert rows stored for it (must be exactly one: stored once, none lost);
- `firing` / `resolved`: the statuses of its Telegram outbox rows of that kind (`notifications`
  table, channel `telegram`; one row each when told once);
- `messages`: in how many distinct sendMessage calls the fake Bot API received its value appears as
  FIRING (as a whole word, in the text as sent, before any edit): a message of its own, or a line
  under a firing group of a packed message; resolves packed into a later message do not count.

What counts as "told once" is decided in one place, `told_once` below: a row marked `sent` was named
by exactly one sendMessage (alone or packed); a row `folded` was only counted in a packed message
(beyond the naming bound) and named by none.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg
from psycopg.rows import dict_row

from tests.support.fakes.telegram import FakeTelegram

__all__ = ["TOLD_STATUSES", "DeliveryReport", "delivery_report", "message_counts", "told_once"]

# Final outbox statuses that mean the chat was told (alone or packed: sent; only counted: folded).
TOLD_STATUSES = frozenset({"sent", "folded"})


def firing_text(text: str) -> str:
    """The part of a message that tells alerts firing: all of a message of its own unless it is a
    resolve ("✅ RESOLVED ..."); in a packed message, the lines under firing groups only."""
    lines = text.splitlines()
    if not lines or lines[0].startswith("✅ RESOLVED"):
        return ""
    if " firing" not in lines[0] and not lines[0].startswith("✅ Resolved"):
        return text  # one alert, in full
    out, firing = [], True
    for line in lines[1:]:
        if not line.startswith(("•", "…")):  # a group head: "🚨 [P0] Name ×3" or "✅ Resolved [P1] Name ×2"
            firing = not line.startswith("✅")
            continue
        if firing:
            out.append(line)
    return "\n".join(out)


def message_counts(tg: FakeTelegram, values: Iterable[str]) -> dict[str, int]:
    """In how many distinct sendMessage calls each value is told firing, as a whole word."""
    texts = [firing_text(m.sent_visible_text) for m in list(tg.messages)]
    out = {}
    for v in values:
        word = re.compile(rf"(?<![\w-]){re.escape(v)}(?![\w-])")
        out[v] = sum(1 for t in texts if word.search(t))
    return out


def told_once(statuses: list[str], messages: int) -> bool:
    """One outbox row of the kind, final; `sent`: exactly one sendMessage names it firing (alone or
    packed); `folded`: counted in a packed message, named by none."""
    if len(statuses) != 1 or statuses[0] not in TOLD_STATUSES:
        return False
    if statuses[0] == "sent":
        return messages == 1
    return messages == 0


@dataclass
class DeliveryReport:
    values: list[str]
    rows: dict[str, list[dict]] = field(default_factory=dict)
    firing: dict[str, list[str]] = field(default_factory=dict)
    resolved: dict[str, list[str]] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)

    @property
    def stored(self) -> int:
        """Values stored exactly once."""
        return sum(1 for v in self.values if len(self.rows[v]) == 1)

    @property
    def lost(self) -> list[str]:
        """Values with no row, or whose firing was never told."""
        return [v for v in self.values
                if not self.rows[v] or not any(s in TOLD_STATUSES for s in self.firing[v])]

    @property
    def duplicated(self) -> list[str]:
        """Values stored twice, queued twice, or named by more than one sendMessage."""
        return [v for v in self.values
                if len(self.rows[v]) > 1 or len(self.firing[v]) > 1 or len(self.resolved[v]) > 1
                or self.messages[v] > 1]

    @property
    def told_firing(self) -> int:
        return sum(1 for v in self.values if told_once(self.firing[v], self.messages[v]))

    @property
    def told_resolved(self) -> int:
        # a resolve edits the firing message (or goes into a summary): the sendMessage count is
        # the firing's; only the outbox row decides
        return sum(1 for v in self.values if len(self.resolved[v]) == 1 and self.resolved[v][0] in TOLD_STATUSES)

    def by_status(self, kind: str) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for v in self.values:
            for s in getattr(self, kind)[v]:
                counts[s] += 1
        return dict(counts)

    def summary(self) -> str:
        return (f"{len(self.values)} alerts: stored {self.stored}, told firing {self.told_firing} "
                f"{self.by_status('firing')}, told resolved {self.told_resolved} {self.by_status('resolved')}, "
                f"lost {len(self.lost)}, duplicated {len(self.duplicated)}")


def delivery_report(database_url: str, tg: FakeTelegram, alertname: str, label: str,
                    values: Iterable[str]) -> DeliveryReport:
    """Read the shared PostgreSQL history and outbox, and the fake's messages, for these values."""
    values = list(values)
    rep = DeliveryReport(values, rows={v: [] for v in values}, firing={v: [] for v in values},
                         resolved={v: [] for v in values})
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        alerts = conn.execute(
            "SELECT id, labels->>%s AS value, status, starts_at FROM alerts "
            "WHERE alertname = %s AND labels->>%s = ANY(%s)", (label, alertname, label, values)).fetchall()
        value_of = {a["id"]: a["value"] for a in alerts}
        for a in alerts:
            rep.rows[a["value"]].append(a)
        notes = conn.execute(
            "SELECT alert_id, kind, status FROM notifications WHERE channel = 'telegram' AND alert_id = ANY(%s) "
            "ORDER BY id", (list(value_of),)).fetchall()
    for n in notes:
        target = rep.firing if n["kind"] == "firing" else rep.resolved if n["kind"] == "resolved" else None
        if target is not None:
            target[value_of[n["alert_id"]]].append(n["status"])
    rep.messages = message_counts(tg, values)
    return rep
