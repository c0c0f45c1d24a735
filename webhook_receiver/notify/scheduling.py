"""What goes out in a lane's next slot: one alert in full, many packed into one message, or an edit.

Pure: given the lane's waiting rows (with their alerts and the rows that first told them), decide.
The rules, in order:

1. A dead man's switch notice goes alone, first.
2. Firing alerts before anything else, P0 first. P0s go alone, in full, with their buttons, one per
   slot, while the lane could send every P0 waiting within the horizon (`full_slots_p0`: the slots
   its pacer has in the next NOTIFY_FULL_WITHIN_SECONDS, `LanePacer.slots_within`): two P0s firing
   together are two full pages a second apart. More than that: they are packed into one message
   (then filled with lower severities, then resolves, while room remains).
3. Otherwise firing alerts go alone, in full, most severe and oldest first, while the lane could send
   them all within the horizon (`full_slots`); more are packed: the severity furthest below its
   share leads, the others follow most severe first; the channel takes as many as fit, the rest
   waits for the next slot. When more than `name_bound` of one alertname wait at once (a storm of
   thousands), the ones beyond are only counted, in that message ("+1800 more ...", with the first
   names and a pointer to the full list); below the bound every alert is named. One alert waiting
   always goes alone, in full.
4. Then resolves: a few (`EDIT_AT_MOST`) whose message went out edit that message, one per slot;
   more than that, or resolves whose alert was only told packed or counted, are packed into one
   "resolved" message, and the original messages are refreshed later, when the lane is quiet.
5. Edits (acknowledgements, refreshes) use slots nothing else needs.

A command's answer (`reply`: a person is waiting) goes right after the firing P0s, alone; a graph
(`graph`: the PNG that follows a page) after every firing alert and before resolves, alone.

Reminders and escalation steps (`reminder`, `escalation`: new, loud messages about an alert nobody
owns) of P0 go right after the new P0 pages (they may use the P0 reserve; lower severities' of the
same kind fill the message), the others after every other firing alert. One waiting goes alone, in
full; several of one kind are packed together (never with new pages: a reminder is not a new
alert), most severe first, escalation steps before reminders.

Forum topics: a chat is one lane (Telegram's limits are per chat), but one message lives in ONE
topic (`message_thread_id`, carried in each row's payload as `thread_id`). So a slot serves one
thread: the thread of the most urgent waiting row (the same order as above), and only rows of that
thread are packed together. Rows without a thread form a thread of their own.

Rows that need no slot at all are settled at once: an acknowledgement of an alert whose first
message has not gone out yet (that message will show the acknowledgement), a resolve whose firing
row is still waiting (one line tells both).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vocabulary import MessageShape, NotificationKind, NotificationStatus, Severity

from .model import AlertView, severity_rank
from .pacing import Shares

__all__ = ["Item", "SlotPlan", "Settled", "plan_slot"]

K = NotificationKind
S = NotificationStatus
P0 = Severity.P0
SINGLE, PACKED, EDIT = MessageShape.SINGLE, MessageShape.PACKED, MessageShape.EDIT
EDIT_KINDS = (K.ACK, K.REFRESH)
NUDGE_KINDS = (K.ESCALATION, K.REMINDER)  # in the order they lead
EDIT_AT_MOST = 3  # resolves waiting that are edited one by one; more are packed


@dataclass
class Item:
    row: dict[str, Any]
    alert: AlertView | None = None
    original: dict[str, Any] | None = None  # the lane's firing row of the same alert
    companions: list[dict[str, Any]] = field(default_factory=list)  # rows told by the same line

    @property
    def kind(self) -> NotificationKind:
        return NotificationKind(self.row["kind"])

    @property
    def told_as(self) -> NotificationKind:
        """How a packed message tells it: resolved, or (anything else) firing."""
        return K.RESOLVED if self.kind == K.RESOLVED else K.FIRING

    @property
    def severity(self) -> str:
        if self.alert is not None and self.alert.severity:
            return self.alert.severity
        return str(self.row.get("severity") or "")

    @property
    def id(self) -> int:
        return int(self.row["id"])

    @property
    def alertname(self) -> str:
        return self.alert.alertname if self.alert else str((self.row.get("payload") or {}).get("alertname", ""))

    @property
    def thread(self) -> int | None:
        v = (self.row.get("payload") or {}).get("thread_id")
        return int(v) if isinstance(v, int) and not isinstance(v, bool) else None

    @property
    def quiet(self) -> bool:
        return bool((self.row.get("payload") or {}).get("quiet"))

    @property
    def no_pack(self) -> bool:
        return bool((self.row.get("payload") or {}).get("no_pack"))

    @property
    def no_edit(self) -> bool:
        return bool((self.row.get("payload") or {}).get("no_edit"))

    def original_ref(self) -> int | None:
        o = self.original
        if o and o.get("status") == S.SENT and o.get("message_ref"):
            return int(o["message_ref"])
        return None


@dataclass
class SlotPlan:
    shape: MessageShape  # SINGLE | PACKED | EDIT
    items: list[Item]
    urgent: bool = False
    lead: str | None = None
    tail: list[Item] = field(default_factory=list)
    message_ref: int | None = None  # edit: the message to render again
    refresh_refs: list[int] = field(default_factory=list)  # packed resolves: originals to refresh later


@dataclass
class Settled:
    """Rows that need no slot: `folded` with a note."""

    rows: list[dict[str, Any]]
    note: str


def _order(items: Sequence[Item], lead: str | None) -> list[Item]:
    return sorted(items, key=lambda i: (0 if lead and i.severity == lead else 1, severity_rank(i.severity),
                                         i.kind == K.RESOLVED, i.alertname, i.id))


def _bound(items: list[Item], name_bound: int) -> tuple[list[Item], list[Item]]:
    """(named, counted): beyond `name_bound` of one (kind, alertname) only counts are given."""
    seen: dict[tuple[bool, str], int] = {}
    named: list[Item] = []
    counted: list[Item] = []
    for i in items:
        key = (i.kind == K.RESOLVED, i.alertname)
        seen[key] = seen.get(key, 0) + 1
        (named if seen[key] <= name_bound else counted).append(i)
    return named, counted


def plan_slot(items: Sequence[Item], *, can_edit: bool, shares: Shares, name_bound: int = 200,
              allow_pack: bool = True, full_slots: int = 1,
              full_slots_p0: int | None = None) -> tuple[SlotPlan | None, list[Settled]]:
    """The next slot's plan and the rows settled without one. `full_slots` (`full_slots_p0` for P0s,
    default the same): how many messages the lane could send within the horizon; while no more firing
    alerts wait than that, they are told in full one per slot (1, the default: packed as soon as two
    wait)."""
    p0_full = full_slots if full_slots_p0 is None else full_slots_p0
    settled: list[Settled] = []
    new: list[Item] = []
    resolve_edits: list[Item] = []
    edits: list[Item] = []
    firing_by_alert = {int(i.row["alert_id"]): i for i in items
                       if i.kind == K.FIRING and i.row.get("alert_id") is not None}

    for i in items:
        k = i.kind
        aid = i.row.get("alert_id")
        if k in (K.DEADMAN, K.DIGEST, K.FIRING):
            new.append(i)
        elif k == K.RESOLVED:
            pending_firing = firing_by_alert.get(int(aid)) if aid is not None else None
            if pending_firing is not None:
                pending_firing.companions.append(i.row)  # one line tells the start and the end
            elif can_edit and i.original_ref() is not None and not i.no_edit:
                resolve_edits.append(i)
            else:
                new.append(i)
        elif k == K.ACK:
            o = i.original
            if o is not None and o.get("status") in (S.PENDING, S.SENDING):
                settled.append(Settled([i.row], "shown in the first message, which had not gone out yet"))
            elif can_edit:
                if i.original_ref() is None:
                    settled.append(Settled([i.row], "no message to edit"))
                else:
                    edits.append(i)
            else:
                new.append(i)  # a channel that cannot edit tells the acknowledgement as a note
        elif k == K.REFRESH:
            if can_edit and (i.row.get("message_ref") or (i.row.get("payload") or {}).get("message_ref")):
                edits.append(i)
            else:
                settled.append(Settled([i.row], "nothing to refresh"))
        else:
            new.append(i)

    # one thread (forum topic) per slot: the thread of the most urgent row
    if len({i.thread for i in (*new, *resolve_edits, *edits)}) > 1:
        t = _lead_thread(new, resolve_edits, edits, shares)
        new = [i for i in new if i.thread == t]
        resolve_edits = [i for i in resolve_edits if i.thread == t]
        edits = [i for i in edits if i.thread == t]

    # 1. the dead man's switch and the digest go alone
    for i in new:
        if i.kind in (K.DEADMAN, K.DIGEST):
            return SlotPlan(SINGLE, [i], urgent=True), settled

    firing = [i for i in new if i.kind == K.FIRING]
    replies = [i for i in new if i.kind == K.REPLY]
    graphs = [i for i in new if i.kind == K.GRAPH]
    nudges = [i for i in new if i.kind in NUDGE_KINDS]
    # resolves told anew, notes of acknowledgements
    later = [i for i in new if i.kind not in (K.FIRING, K.REPLY, K.GRAPH, *NUDGE_KINDS)]
    lone = [i for i in firing if i.no_pack]

    # 2. firing P0 first
    p0 = [i for i in firing if i.severity == P0]
    if p0:
        p0_lone = [i for i in p0 if i.no_pack]
        if len(p0) == 1 or p0_lone or not allow_pack or len(p0) <= p0_full:
            return SlotPlan(SINGLE, [sorted(p0_lone or p0, key=_rank)[0]], urgent=True, lead=P0), settled
        rest = [i for i in firing if i.severity != P0 and not i.no_pack]
        ordered = _order(p0, P0) + _order(rest, None) + _order(later + resolve_edits, None)
        named, counted = _bound(ordered, name_bound)
        return SlotPlan(PACKED, named, urgent=True, lead=P0, tail=counted,
                        refresh_refs=_refs(resolve_edits)), settled

    # nobody owns a P0: its reminders and escalation steps
    p0_nudges = [i for i in nudges if i.severity == P0]
    if p0_nudges:  # packed with the lower severities' of the same kind, like new P0 pages
        kind = next(k for k in NUDGE_KINDS if any(i.kind == k for i in p0_nudges))
        return _nudge_plan([i for i in nudges if i.kind == kind], urgent=True, name_bound=name_bound,
                           allow_pack=allow_pack), settled

    # a person waits for a command's answer
    if replies:
        return SlotPlan(SINGLE, [min(replies, key=lambda i: i.id)], urgent=True, lead=None), settled

    # 3. other firing alerts
    if len(firing) == 1 or lone or (firing and (not allow_pack or len(firing) <= full_slots)):
        pick = sorted(lone or firing, key=_rank)[0]
        return SlotPlan(SINGLE, [pick], lead=pick.severity), settled
    if firing:
        lead = shares.pick(i.severity for i in firing)
        ordered = _order(firing, lead) + _order(later + resolve_edits, None)
        named, counted = _bound(ordered, name_bound)
        return SlotPlan(PACKED, named, lead=lead, tail=counted, refresh_refs=_refs(resolve_edits)), settled

    if nudges:
        return _nudge_plan(nudges, urgent=False, name_bound=name_bound, allow_pack=allow_pack), settled

    # graphs follow their pages once no page waits
    if graphs:
        pick = min(graphs, key=_rank)
        return SlotPlan(SINGLE, [pick], lead=pick.severity), settled

    # 4. resolves (and notes of acknowledgements for channels that cannot edit)
    if resolve_edits and not later and len(resolve_edits) <= EDIT_AT_MOST:
        i = min(resolve_edits, key=_rank)
        ref = i.original_ref()
        same = [e for e in resolve_edits + edits if _edit_ref(e) == ref]
        return SlotPlan(EDIT, same, message_ref=ref, urgent=i.severity == P0), settled
    pending = later + resolve_edits
    if len(pending) == 1:
        return SlotPlan(SINGLE, pending, lead=pending[0].severity), settled
    if pending:
        lone_later = [i for i in later if i.no_pack]
        if lone_later or not allow_pack:
            pick = sorted(lone_later or later or resolve_edits, key=_rank)[0]
            if pick in resolve_edits:
                return SlotPlan(EDIT, [pick], message_ref=pick.original_ref()), settled
            return SlotPlan(SINGLE, [pick], lead=pick.severity), settled
        named, counted = _bound(_order(pending, None), name_bound)
        return SlotPlan(PACKED, named, tail=counted, refresh_refs=_refs(resolve_edits)), settled

    # 5. edits
    if edits:
        first = min(edits, key=_rank)
        ref = _edit_ref(first)
        same = [e for e in edits if _edit_ref(e) == ref]
        return SlotPlan(EDIT, same, message_ref=ref), settled
    return None, settled


def _nudge_plan(nudges: Sequence[Item], *, urgent: bool, name_bound: int, allow_pack: bool) -> SlotPlan:
    """Reminders or escalation steps: the leading kind only; alone, or packed most severe first."""
    kind = next(k for k in NUDGE_KINDS if any(i.kind == k for i in nudges))
    mine = [i for i in nudges if i.kind == kind]
    lone = [i for i in mine if i.no_pack]
    if len(mine) == 1 or lone or not allow_pack:
        pick = sorted(lone or mine, key=_rank)[0]
        return SlotPlan(SINGLE, [pick], urgent=urgent, lead=pick.severity)
    ordered = sorted(mine, key=lambda i: (severity_rank(i.severity), i.alertname, i.id))
    named, counted = _bound(ordered, name_bound)
    return SlotPlan(PACKED, named, urgent=urgent, lead=ordered[0].severity, tail=counted)


def _rank(i: Item) -> tuple[int, int]:
    """Most severe first, then oldest."""
    return severity_rank(i.severity), i.id


def _lead_thread(new: Sequence[Item], resolve_edits: Sequence[Item], edits: Sequence[Item],
                 shares: Shares) -> int | None:
    """The thread of the row the rules above would serve first."""
    firing = [i for i in new if i.kind == K.FIRING]

    def oldest(xs: Sequence[Item]) -> Item:
        return min(xs, key=lambda i: i.id)

    for group in ([i for i in new if i.kind in (K.DEADMAN, K.DIGEST)],
                  [i for i in firing if i.severity == P0],
                  [i for i in new if i.kind in NUDGE_KINDS and i.severity == P0],
                  [i for i in new if i.kind == K.REPLY]):
        if group:
            return oldest(group).thread
    if firing:
        lead = shares.pick(i.severity for i in firing)
        return oldest([i for i in firing if i.severity == lead]).thread
    nudges = [i for i in new if i.kind in NUDGE_KINDS]
    if nudges:
        return min(nudges, key=_rank).thread
    rest = [i for i in new if i.kind == K.GRAPH] or [*new, *resolve_edits] or list(edits)
    return min(rest, key=_rank).thread


def _edit_ref(i: Item) -> int | None:
    if i.kind == K.REFRESH:
        v = i.row.get("message_ref") or (i.row.get("payload") or {}).get("message_ref")
        return int(v) if v else None
    return i.original_ref()


def _refs(items: Sequence[Item]) -> list[int]:
    return sorted({r for r in (i.original_ref() for i in items) if r is not None})
