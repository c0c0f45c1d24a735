"""Reminders and escalation steps as Telegram HTML: new, loud messages about alerts nobody owns.

- a reminder (alone) says which reminder it is and how long the alert has fired
  ("🔁 Reminder 2 · firing 10m"), names the alert and carries the Ack / Silence buttons; the
  dispatcher sends it as a reply to the page;
- an escalation step says which step and for how long nobody acknowledged it, mentions the people it
  calls (a user id as `<a href="tg://user?id=...">`, which rings their phone; an @username as text)
  and shows the alert in full;
- several due at once in one chat are packed: every alert named, one line each, most severe first,
  with Ack all.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vocabulary import PLUMBING_LABELS, NotificationKind

from ...model import AlertView, Notice, format_duration
from ..base import TailCount
from ..packing import fit_count, group_notices, severity_counts
from .format import (
    MAX_ENTITIES,
    SEVERITY_EMOJI,
    TELEGRAM_MAX_CHARS,
    LinkBuilder,
    _body,
    _e,
    _entity_count,
    _safe_url,
    _ts,
    packed_line,
    truncate_html,
    visible_length,
)

__all__ = ["render_nudge", "render_packed_nudges", "mention_html", "NUDGE_KINDS"]

K = NotificationKind
NUDGE_KINDS = (K.REMINDER, K.ESCALATION)
NO_LINKS = LinkBuilder()


def _age(a: AlertView, payload: Mapping[str, Any] | None = None) -> str:
    """How long it has fired: as of when the reminder or step was due (the worker says), else now."""
    given = (payload or {}).get("firing_seconds")
    s = float(given) if isinstance(given, (int, float)) and not isinstance(given, bool) else a.firing_seconds()
    return format_duration(s) if s is not None else "?"


def mention_html(mentions: Any) -> str:
    """`👋 <a href="tg://user?id=4242">alice</a> @bob`; empty when there is nobody to mention."""
    out = []
    for m in mentions if isinstance(mentions, list) else []:
        if not isinstance(m, Mapping):
            continue
        if m.get("username"):
            out.append("@" + _e(str(m["username"]), 40))
        elif str(m.get("id") or "").isdigit():
            out.append(f'<a href="tg://user?id={int(str(m["id"]))}">{_e(str(m.get("name") or m["id"]), 64)}</a>')
    return ("👋 " + " ".join(out)) if out else ""


def _head(a: AlertView) -> str:
    return f"{SEVERITY_EMOJI.get(a.severity, '🔔')} <b>[{_e(a.severity or '?', 8)}] {_e(a.title, 300)}</b>"


def render_nudge(notice: Notice, links: LinkBuilder = NO_LINKS) -> str:
    """One reminder or escalation step, unsplit."""
    a = notice.alert
    if a is None:
        raise ValueError(f"telegram: a {notice.kind!r} notice needs an alert")
    p = notice.payload
    if notice.kind == K.REMINDER:
        n = int(p.get("reminder") or a.reminders_sent or 1)
        lines = [f"🔁 <b>Reminder {n} · firing {_age(a, p)}</b>", _head(a),
                 "Nobody has acknowledged it." + (f" /ack {int(a.id)}" if a.id is not None else "")]
        ident = [f"<b>{_e(k, 64)}</b>: <code>{_e(v, 200)}</code>" for k, v in a.identifying_labels()
                 if k not in PLUMBING_LABELS][:6]
        lines += ident
        if a.value:
            lines.append(f"<b>value</b>: <code>{_e(a.value, 200)}</code>")
        history = _safe_url(links.alert(a.id))
        runbook = _safe_url(a.runbook_url)
        link_bits = ([f'<a href="{_e(runbook)}">📖 Runbook</a>'] if runbook else []) + \
            ([f'<a href="{_e(history)}">🗂 History #{int(a.id or 0)}</a>'] if history else [])
        if link_bits:
            lines.append(" | ".join(link_bits))
        lines.append(f"<i>since {_ts(a.starts_at)}</i>")
        return "\n".join(lines)
    step = int(p.get("step") or 1)
    lines = [f"⏫ <b>Escalation step {step} · nobody has acknowledged it for {_age(a, p)}</b>"]
    mentions = mention_html(p.get("mentions"))
    if mentions:
        lines.append(mentions)
    lines += [_head(a), *_body(a, links), "", f"<i>since {_ts(a.starts_at)}</i>"]
    return "\n".join(lines)


def _line(n: Notice, links: LinkBuilder) -> str:
    a = n.alert
    assert a is not None
    status = [f"· {_age(a, n.payload)}"]
    if n.kind == K.REMINDER:
        status.append(f"🔁{int(n.payload.get('reminder') or a.reminders_sent or 1)}")
    else:
        status.append(f"⏫{int(n.payload.get('step') or 1)}")
    return packed_line(a, status, links)


def _packed_text(notices: Sequence[Notice], tail: Sequence[TailCount], links: LinkBuilder) -> str:
    counts = severity_counts(notices)
    total = len(notices) + sum(t.count for t in tail)
    by_sev = " · ".join(f"{_e(s, 8)} {c}" for s, c in counts)
    plural = "s" if total != 1 else ""
    if notices[0].kind == K.REMINDER:
        head = f"🔁 <b>Reminder: {total} alert{plural} firing, nobody has acknowledged {'them' if plural else 'it'}</b>"
    else:
        head = f"⏫ <b>Escalation: {total} alert{plural} nobody has acknowledged</b>"
    lines = [head + (f" ({by_sev})" if by_sev else "")]
    if notices[0].kind == K.ESCALATION:
        seen: dict[str, dict[str, Any]] = {}
        for n in notices:
            for m in n.payload.get("mentions") or []:
                if isinstance(m, Mapping):
                    seen.setdefault(str(m.get("username") or m.get("id")), dict(m))
        mentions = mention_html(list(seen.values()))
        if mentions:
            lines.append(mentions)
    for members in group_notices(notices):
        a = members[0].alert
        lines.append(f"{SEVERITY_EMOJI.get(members[0].severity, '🔔')} <b>[{_e(members[0].severity, 8)}] "
                     f"{_e(a.alertname if a else '', 100)}</b> ×{len(members)}")
        lines.extend(_line(n, links) for n in members)
    for t in tail:
        pointer = _safe_url(links.alert_list(t.alertname))
        where = f'<a href="{_e(pointer)}">all of them</a>' if pointer else f"/alerts {_e(t.alertname, 100)}"
        lines.append(f"<i>… +{t.count} more {_e(t.alertname, 100)} [{_e(t.severity, 8)}]: {where}</i>")
    return "\n".join(lines)


def render_packed_nudges(notices: Sequence[Notice], *, tail: Sequence[TailCount] = (), fit: bool = True,
                         links: LinkBuilder = NO_LINKS, limit: int = TELEGRAM_MAX_CHARS) -> tuple[str, int]:
    """Several reminders (or escalation steps) in one message, as many as fit; (html, how many)."""
    if not notices:
        raise ValueError("render_packed_nudges needs at least one notice")
    if not fit:
        return truncate_html(_packed_text(notices, tail, links), limit), len(notices)
    text, n = fit_count(len(notices), lambda k: _packed_text(notices[:k], tail, links),
                        lambda t: visible_length(t) <= limit and _entity_count(t) <= MAX_ENTITIES)
    return (text if visible_length(text) <= limit else truncate_html(text, limit)), n
