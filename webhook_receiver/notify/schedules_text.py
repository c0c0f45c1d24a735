"""The operator console's answers about on call and maintenance windows (Telegram HTML): `/oncall`,
`/oncall take 4h`, `/mute` alone, and the lines `/status` adds. Times are shown in the rotation's or
the window's own time zone (that is how they were written), with how far away they are."""
from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from .commands import Command
from .maintenance import MaintenanceSchedule, Window
from .oncall import Shift
from .oncall_board import OncallBoard

if TYPE_CHECKING:
    from .actions import Mute

__all__ = ["window_lines", "mute_list", "oncall_line", "oncall_answer", "span"]


def _e(value: object, limit: int = 200) -> str:
    s = str(value)
    return html.escape(s if len(s) <= limit else s[: limit - 1] + "…", quote=True)


def span(seconds: float) -> str:
    """`5m`, `2h 5m`, `3d 4h` (a minute at least)."""
    s = max(0, int(seconds))
    if s < 3600:
        return f"{max(1, s // 60)}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _at(dt: datetime, zone: ZoneInfo, now: datetime) -> str:
    """`Thu 10:00 Asia/Seoul (in 2h 5m)`."""
    local = dt.astimezone(zone)
    rel = f"in {span((dt - now).total_seconds())}" if dt > now else f"{span((now - dt).total_seconds())} ago"
    return f"{local.strftime('%a %d %b %H:%M')} {zone.key} ({rel})"


def _window_line(w: Window, occ: tuple[datetime, datetime] | None, now: datetime) -> str:
    head = f"<b>{_e(w.name, 64)}</b> <code>{_e(w.scope(), 120)}</code> · {_e(w.describe(), 120)}"
    if occ is None:
        return f"🗓 {head}: not in the next 8 days"
    start, end = occ
    if start <= now:
        return f"🛠 {head}: <b>open now</b>, until {_at(end, w.zone, now)}"
    return f"🗓 {head}: next {_at(start, w.zone, now)}"


def window_lines(schedule: MaintenanceSchedule, now: datetime, limit: int = 20) -> list[str]:
    """One line per recurring window, the open ones and the soonest first."""
    rows = schedule.upcoming(now)
    out = [_window_line(w, occ, now) for w, occ in rows[:limit]]
    if len(rows) > limit:
        out.append(f"<i>… and {len(rows) - limit} more windows (/mute lists them)</i>")
    return out


def mute_list(schedule: MaintenanceSchedule, mutes: Sequence[Mute], now: datetime) -> str:
    """`/mute` alone: the recurring windows (when they open next) and the one-off mutes in force."""
    lines = ["🔧 <b>Maintenance</b>"]
    if schedule:
        lines.append("<i>Recurring windows (Alertmanager mutes the alerts they match while open):</i>")
        lines += window_lines(schedule, now)
    else:
        lines.append("<i>No recurring windows (policy.maintenance in the override file).</i>")
    if mutes:
        lines.append("<i>One-off mutes in force:</i>")
        lines += [f"🔧 #{m.id} <code>{_e(m.scope(), 120)}</code> until {_at(m.ends_at, ZoneInfo('UTC'), now)} · "
                  f"by {_e(m.created_by, 40)}" + (f" — {_e(m.reason, 100)}" if m.reason else "") for m in mutes[:15]]
    else:
        lines.append("<i>No one-off mute in force.</i>")
    lines.append("<i>/mute exchange=upbit 2h [reason] mutes for a while; /unmute ID ends it.</i>")
    return "\n".join(lines)


def _who(s: Shift) -> str:
    return f"<b>{_e(s.name, 64)}</b>" + (f" ({_e(s.why, 20)})" if s.person is not None else "")


def oncall_line(board: OncallBoard, now: datetime) -> str:
    """`/status`'s line: who is on call, until when, who is next."""
    try:
        shown = board.show(now, days=0)
    except Exception as exc:  # storage down: /status says so elsewhere
        return f"❌ On call: unknown ({type(exc).__name__})"
    zone = board.policy.zone
    until = f" until {_at(shown.now.until, zone, now)}" if shown.now.until else ""
    nxt = f" · next {_e(shown.next.name, 64)}" if shown.next is not None else ""
    return f"📟 On call: {_who(shown.now)}{until}{nxt}"


def _shift(label: str, s: Shift, zone: ZoneInfo, now: datetime) -> str:
    since = f" since {_at(s.start, zone, now)}" if s.start and s.start <= now else (
        f" from {_at(s.start, zone, now)}" if s.start else "")
    until = f" until {_at(s.until, zone, now)}" if s.until else ""
    return f"{label}: {_who(s)}{since}{until}"


def _show(board: OncallBoard, now: datetime) -> list[str]:
    shown = board.show(now)
    zone = board.policy.zone
    lines = [_shift("📟 <b>On call now</b>", shown.now, zone, now)]
    if shown.next is not None:
        lines.append(_shift("⏭ <b>Next</b>", shown.next, zone, now))
    if board.policy.rotation is not None:
        lines.append(f"<i>Rotation: {_e(board.policy.rotation.describe(), 300)}</i>")
    return lines


def oncall_answer(board: OncallBoard | None, cmd: Command, who: str, now: datetime) -> str:
    """`/oncall`: now and next; `/oncall take D`: the sender (by Telegram user id or @username, one of
    the people) is on call for D, stored, winning over the rotation."""
    if board is None or not board:
        return "➖ No on-call rotation is configured (policy.oncall in the override file)."
    if not cmd.take:
        return "\n".join(_show(board, now))
    assert cmd.duration is not None
    person = board.policy.telegram_person(cmd.user_id, cmd.username)
    if person is None:
        ident = f"user id {cmd.user_id}" if cmd.user_id is not None else "no user id"
        return (f"❌ You ({_e(who, 64)}, {ident}) are not one of the people on call: add your Telegram user id "
                f"or @username to policy.oncall.people.")
    taken = board.take(person, cmd.duration, who, now)
    head = (f"✅ <b>{_e(person.name, 64)}</b> is on call until {_at(taken.until, board.policy.zone, now)}, "
            f"taken by {_e(who, 64)}. P0/P1 pages mention them.")
    return "\n".join([head, *_show(board, now)])

