"""Telegram HTML messages: one alert in full, several alerts packed, always well-formed.

Every label and annotation value goes through `html.escape` (Telegram's HTML mode knows only the
`<`, `>`, `&`, `"` entities). Lengths are measured *after* entity parsing, in UTF-16 code units,
as Telegram counts them (4096 per message).

- `render_alert` shows what an alert says to a person: the known annotations in their place (summary
  as the title, the action right under it, value, description, runbook link) and every other
  annotation as a labelled line, except the ones written for the receiver (`graph`, `threshold`);
  identifying labels only (no `instance`/`job` unless nothing else tells two alerts apart). Nothing
  else is dropped: a message longer than 4096 is split by `split_html` into consecutive
  parts at line boundaries (or, inside an over-long line, between characters, never inside a tag or
  an entity; open tags are closed and reopened across the cut). The first part carries the buttons.
- `render_packed` names many alerts in one message: most severe first, grouped by alertname, one
  line per alert with its identifying labels, its value, marks for acknowledged/resolved, and its
  history id. It takes as many as fit and says how many it took; alerts beyond a naming bound are
  only counted, with the first names and a pointer to the full list.
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vocabulary import NotificationKind, Severity

from ....timefmt import fmt_time
from ...model import MACHINE_ANNOTATIONS, AlertView, Notice, format_duration
from ..base import TailCount
from ..packing import fit_count, group_notices, severity_counts

__all__ = [
    "SEVERITY_EMOJI", "TELEGRAM_MAX_CHARS", "MAX_ENTITIES", "render_alert", "render_resolved", "render_packed",
    "render_deadman", "render_text", "split_html", "truncate_html", "visible_length", "alert_keyboard",
    "packed_keyboard", "callback_data", "parse_callback_data", "Callback", "LinkBuilder",
]

K = NotificationKind
TELEGRAM_MAX_CHARS = 4096
# Telegram drops formatting beyond about 100 entities in one message; packed lines stay under it.
MAX_ENTITIES = 90
SEVERITY_EMOJI: dict[str, str] = {Severity.P0: "🚨", Severity.P1: "⚠️", Severity.P2: "⚡", Severity.P3: "ℹ️"}
ELLIPSIS = "…"
KNOWN_ANNOTATIONS = ("summary", "description", "action", "value", "runbook_url")
MAX_LABEL_VALUE = 200
PACKED_LINE_CHARS = 300

_TOKEN = re.compile(r"(<[^>]*>)|(&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);)|([^<&]+)|(.)", re.S)
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)")


# --- measuring and cutting ---------------------------------------------------------------------
def _utf16(s: str) -> int:
    """Telegram counts UTF-16 code units; measuring that way is the safe side for emoji."""
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def visible_length(text_html: str) -> int:
    """Length of the message after entity parsing, in UTF-16 code units."""
    total = 0
    for tag, ent, text, other in _TOKEN.findall(text_html):
        if tag:
            continue
        total += _utf16(html.unescape(ent) if ent else (text or other))
    return total


def _entity_count(text_html: str) -> int:
    return sum(1 for tag, *_ in _TOKEN.findall(text_html) if tag and not tag.startswith("</"))


def _cut_fragment(fragment: str, limit: int) -> list[str]:
    """Cut one well-formed HTML fragment into pieces of at most `limit` visible characters.

    Cuts fall between characters of text (never inside a tag or an entity); the tags open at a cut
    are closed at the end of the piece and reopened, with their attributes, at the start of the next.
    """
    pieces: list[str] = []
    out: list[str] = []
    stack: list[tuple[str, str]] = []  # (name, opening tag text)
    used = 0

    def flush() -> None:
        nonlocal out, used
        out.extend(f"</{name}>" for name, _ in reversed(stack))
        pieces.append("".join(out))
        out = [open_tag for _, open_tag in stack]
        used = 0

    for tag, ent, text, other in _TOKEN.findall(fragment):
        if tag:
            m = _TAG.match(tag)
            if m:
                name = m.group(2).lower()
                if m.group(1) == "/":
                    if stack and stack[-1][0] == name:
                        stack.pop()
                else:
                    stack.append((name, tag))
            out.append(tag)
            continue
        if ent:
            n = _utf16(html.unescape(ent))
            if used + n > limit and used:
                flush()
            out.append(ent)
            used += n
            continue
        chunk = text or other
        while chunk:
            room = limit - used
            if _utf16(chunk) <= room:
                out.append(chunk)
                used += _utf16(chunk)
                break
            # take what fits, preferring to cut after a space
            take = 0
            width = 0
            for i, ch in enumerate(chunk):
                w = _utf16(ch)
                if width + w > room:
                    break
                width += w
                take = i + 1
            space = chunk.rfind(" ", 0, take)
            if space > take // 2:
                take = space + 1
            if take == 0 and used == 0:  # a character wider than the whole limit (limit < 2): drop it
                chunk = chunk[1:]
                continue
            out.append(chunk[:take])
            used += _utf16(chunk[:take])
            chunk = chunk[take:]
            flush()
    if any(not t.startswith("<") for t in out if t) or not pieces:
        out.extend(f"</{name}>" for name, _ in reversed(stack))
        pieces.append("".join(out))
    return [p for p in pieces if visible_length(p) or p == pieces[0]]


def split_html(text_html: str, limit: int = TELEGRAM_MAX_CHARS) -> list[str]:
    """Split a message into parts of at most `limit` visible characters.

    The message is a sequence of lines, each a well-formed fragment (our renderers never leave a tag
    open across a newline). Lines are packed greedily into parts; a line longer than a part is cut
    by `_cut_fragment`.
    """
    if visible_length(text_html) <= limit:
        return [text_html]
    lines = text_html.split("\n")
    if not all(_balanced(line) for line in lines):  # tags span lines: cut anywhere, still safely
        return [p for p in _cut_fragment(text_html, limit) if p.strip()]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for line in lines:
        n = visible_length(line)
        sep = 1 if current else 0
        if used + sep + n <= limit:
            current.append(line)
            used += sep + n
            continue
        if current:
            parts.append("\n".join(current))
            current, used = [], 0
        if n <= limit:
            current, used = [line], n
            continue
        pieces = _cut_fragment(line, limit)
        parts.extend(pieces[:-1])
        current, used = [pieces[-1]], visible_length(pieces[-1])
    if current and any(visible_length(c) for c in current):
        parts.append("\n".join(current))
    return [p.strip("\n") for p in parts if p.strip()]


def _balanced(fragment: str) -> bool:
    depth = 0
    for tag, *_ in _TOKEN.findall(fragment):
        m = _TAG.match(tag) if tag else None
        if m:
            depth += -1 if m.group(1) == "/" else 1
            if depth < 0:
                return False
    return depth == 0


def truncate_html(text_html: str, limit: int = TELEGRAM_MAX_CHARS, marker: str = ELLIPSIS) -> str:
    """Shorten well-formed HTML to at most `limit` visible characters without breaking it (for
    re-renders of a sent message, which must stay one message)."""
    if visible_length(text_html) <= limit:
        return text_html
    room = max(0, limit - _utf16(marker))
    first = _cut_fragment(text_html, room)[0] if room else ""
    return first + (html.escape(marker) if visible_length(first) + _utf16(marker) <= limit else "")


# --- pieces -----------------------------------------------------------------------------------------
def _e(value: object, limit: int | None = None) -> str:
    s = str(value)
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + ELLIPSIS
    return html.escape(s, quote=True)


def _safe_url(url: str | None) -> str | None:
    if not url:
        return None
    url = url.strip()
    if not re.match(r"^https?://", url, re.I) or len(url) > 2000 or any(c in url for c in "\n\r\t "):
        return None
    return url


def _ts(dt: datetime | None) -> str:
    return fmt_time(dt) if dt else "?"


@dataclass(frozen=True)
class LinkBuilder:
    """Links into the receiver for a phone: the alert's history page and the filtered list.

    `external_url` is the receiver's public base URL (RECEIVER_EXTERNAL_URL); without it no
    history links are made (a loopback link is useless on a phone)."""

    external_url: str | None = None

    def alert(self, alert_id: int | None) -> str | None:
        if not self.external_url or alert_id is None:
            return None
        return f"{self.external_url.rstrip('/')}/alerts/{int(alert_id)}"

    def alert_list(self, alertname: str) -> str | None:
        if not self.external_url:
            return None
        from urllib.parse import quote

        return f"{self.external_url.rstrip('/')}/alerts?alertname={quote(alertname)}&status=firing"


def _links(alert: AlertView, links: LinkBuilder) -> str:
    out = []
    runbook = _safe_url(alert.runbook_url)
    graph = _safe_url(alert.generator_url)
    history = _safe_url(links.alert(alert.id))
    if runbook:
        out.append(f'<a href="{_e(runbook)}">📖 Runbook</a>')
    if graph:
        out.append(f'<a href="{_e(graph)}">📈 Graph</a>')
    if history:
        out.append(f'<a href="{_e(history)}">🗂 History #{int(alert.id or 0)}</a>')
    return " | ".join(out)


def _action_lines(alert: AlertView) -> list[str]:
    """`👉 Action: ...` right under the title: what to do is the first thing read."""
    action = alert.annotations.get("action")
    if not action:
        return []
    first, *more = str(action).splitlines() or [""]
    return [f"👉 <b>Action</b>: {_e(first)}", *(_e(x) for x in more)]


def _label_line(alert: AlertView) -> list[str]:
    """The labels that say what is on fire (`exchange: upbit`), then the alert's own value in words."""
    bits = [f"<b>{_e(k, 64)}</b>: <code>{_e(v, MAX_LABEL_VALUE)}</code>" for k, v in alert.page_labels()]
    if alert.value:
        bits.append(f"<b>value</b>: <code>{_e(alert.value, MAX_LABEL_VALUE)}</code>")
    return [" · ".join(bits)] if bits else []


def _body(alert: AlertView, links: LinkBuilder) -> list[str]:
    """Under the title (and action): the labels and value, the description (with the catalog's `Now:`
    line of context), every other annotation a person wrote, the links."""
    lines = _label_line(alert)
    if alert.message:
        lines.append("")
        lines.extend(_e(line) for line in alert.message.splitlines() or [""])
    extra = sorted((k, v) for k, v in alert.annotations.items()
                   if k not in KNOWN_ANNOTATIONS and k not in MACHINE_ANNOTATIONS and v)
    if extra:
        lines.append("")
        for k, v in extra:
            value_lines = str(v).splitlines() or [""]
            lines.append(f"<b>{_e(k, 64)}</b>: {_e(value_lines[0])}")
            lines.extend(_e(x) for x in value_lines[1:])
    link_line = _links(alert, links)
    if link_line:
        lines.append("")
        lines.append(link_line)
    return lines


def _footer(alert: AlertView, when: str) -> str:
    """Which rule, from which source, its history id (for /ack and the API), and when."""
    bits = [f"alert: {_e(alert.alertname, MAX_LABEL_VALUE)}"]
    if alert.source:
        bits.append(f"source: {_e(alert.source, 64)}")
    if alert.id is not None:
        bits.append(f"id: {int(alert.id)}")
    return f"<i>{' · '.join(bits)}</i>\n<i>{when}</i>"


def _state_lines(alert: AlertView) -> list[str]:
    out = []
    if alert.acknowledged_by:
        out.append(f"👤 Acked by {_e(alert.acknowledged_by, 64)} at {_ts(alert.acknowledged_at)}"
                   + (f": {_e(alert.ack_comment, 300)}" if alert.ack_comment else ""))
    latest = (alert.last_comment_by, alert.last_comment)
    if alert.last_comment and latest != (alert.acknowledged_by, alert.ack_comment):  # a later comment
        out.append(f"💬 {_e(alert.last_comment_by or '?', 64)}: {_e(alert.last_comment, 300)}")
    if alert.reminders_sent and not alert.resolved:
        out.append(f"🔁 {alert.reminders_sent} reminder{'s' if alert.reminders_sent != 1 else ''} sent")
    if alert.escalations_sent:
        out.append(f"⏫ escalated ({alert.escalations_sent} step{'s' if alert.escalations_sent != 1 else ''})")
    if alert.silenced_until and not alert.resolved:
        out.append(f"🔕 Silenced until {_ts(alert.silenced_until)}")
    return out


def render_alert(alert: AlertView, links: LinkBuilder = LinkBuilder(), oncall: str | None = None) -> str:
    """The firing message, unsplit (`split_html` makes parts of it), laid out as the seeds' pages are:

        🚨 [P0] upbit is FROZEN
        👉 Action: The bot halted trading on upbit. Check its websocket feed ...
        📟 on call: ...
        exchange: upbit · value: FROZEN

        The health monitor froze upbit: ...
        Now: status FROZEN · REST latency 2.5s · error ratio 12% · orderbook age 3m 20s

        📖 Runbook | 📈 Graph | 🗂 History #12
        alert: ExchangeFrozen · source: exchange_health · id: 12
        since 2026-12-04 23:00:00 UTC

    Labels: identifying ones only (`AlertView.page_labels`); annotations: every one a person wrote
    (`graph` and `threshold` are for the graph renderer). `oncall`: the mention of who is on call
    (Telegram HTML, `Person.mention_html`), so their phone rings."""
    if alert.resolved:
        return render_resolved(alert, links)
    emoji = SEVERITY_EMOJI.get(alert.severity, "🔔")
    head = f"{emoji} <b>[{_e(alert.severity or '?', 8)}] {_e(alert.title, 300)}</b>"
    mention = [f"📟 on call: {oncall}"] if oncall else []
    return "\n".join([head, *_action_lines(alert), *mention, *_body(alert, links), "",
                      _footer(alert, f"since {_ts(alert.starts_at)}"), *_state_lines(alert)])


def render_resolved(alert: AlertView, links: LinkBuilder = LinkBuilder()) -> str:
    """The message once the alert resolved, with how long it lasted."""
    head = f"✅ <b>RESOLVED [{_e(alert.severity or '?', 8)}] {_e(alert.title, 300)}</b>"
    duration = alert.duration_seconds()
    when = f"resolved at {_ts(alert.ends_at)}" + (f" after {format_duration(duration)}" if duration is not None else "")
    return "\n".join([head, *_body(alert, links), "", _footer(alert, when), *_state_lines(alert)])


def render_deadman(down: bool, silent_for: float, at: datetime, resolved: bool = False) -> str:
    if down and resolved:
        return (f"🚨 <b>[P0] Alerting pipeline is down</b>\n"
                f"Alertmanager resolved the Watchdog at {_ts(at)}: Prometheus stopped sending it (it is down, or "
                f"lost its rules).\n"
                f"<b>Action</b>: check Prometheus; until it is back no alert of the bot can fire.")
    if down:
        return (f"🚨 <b>[P0] Alerting pipeline is down</b>\n"
                f"No Watchdog alert received for {format_duration(silent_for)} (since {_ts(at)}).\n"
                f"<b>Action</b>: check Prometheus, Alertmanager and the receiver; alerts may not be reaching you.")
    return (f"✅ <b>Alerting pipeline recovered</b>\nWatchdog received again at {_ts(at)} "
            f"after {format_duration(silent_for)} of silence.")


def render_text(text: str) -> str:
    """Plain text (a command's answer) escaped for HTML mode."""
    return _e(text)


# --- packed messages ------------------------------------------------------------------------------------
def packed_line(a: AlertView, status: Sequence[str], links: LinkBuilder) -> str:
    """One alert of a packed message (alerts and nudges alike): its identity linked to its runbook, its
    value, the `status` marks, its history number; cut to PACKED_LINE_CHARS visible characters."""
    ident = _e(a.identity(), 160)
    url = _safe_url(a.runbook_url)
    name = f'<a href="{_e(url)}">{ident}</a>' if url else ident
    bits = [f"• {name}"]
    if a.value:
        bits.append(f"— {_e(a.value, 60)}")
    bits += status
    history = _safe_url(links.alert(a.id))
    if a.id is not None:
        bits.append(f'<a href="{_e(history)}">#{int(a.id)}</a>' if history else f"#{int(a.id)}")
    line = " ".join(bits)
    if visible_length(line) > PACKED_LINE_CHARS:
        line = truncate_html(line, PACKED_LINE_CHARS)
    return line


def _packed_line(n: Notice, links: LinkBuilder) -> str:
    a = n.alert
    assert a is not None
    status: list[str] = []
    if n.kind == K.RESOLVED or a.resolved:
        dur = a.duration_seconds()
        status.append("✅" + (f" after {format_duration(dur)}" if dur is not None else ""))
    elif a.acknowledged_by:
        status.append(f"👤 {_e(a.acknowledged_by, 40)}")
    elif a.silenced_until:
        status.append("🔕")
    elif a.reminders_sent:
        status.append(f"🔁{a.reminders_sent}")
    return packed_line(a, status, links)


def _group_head(n: Notice, count: int) -> str:
    a = n.alert
    sev = n.severity
    if n.kind == K.RESOLVED:
        return f"✅ <b>Resolved [{_e(sev, 8)}] {_e(a.alertname if a else '', 100)}</b> ×{count}"
    emoji = SEVERITY_EMOJI.get(sev, "🔔")
    return f"{emoji} <b>[{_e(sev, 8)}] {_e(a.alertname if a else '', 100)}</b> ×{count}"


def _packed_text(notices: Sequence[Notice], tail: Sequence[TailCount], links: LinkBuilder,
                 oncall: str | None = None) -> str:
    firing = [n for n in notices if n.kind != K.RESOLVED]
    resolved = [n for n in notices if n.kind == K.RESOLVED]
    counts = severity_counts(notices)
    head_sev = counts[0][0] if counts else None
    parts = [f"{_e(s, 8)} {c}" for s, c in counts]
    tail_firing = sum(t.count for t in tail if t.kind != K.RESOLVED)
    total = len(firing) + tail_firing
    if total:
        head = f"{SEVERITY_EMOJI.get(head_sev or '', '🔔')} <b>{total} alert{'s' if total != 1 else ''} firing</b>"
        if parts:
            head += " (" + " · ".join(parts) + ")"
    else:
        head = "✅ <b>Resolved</b>"
    if resolved and total:
        head += f" · ✅ {len(resolved) + sum(t.count for t in tail if t.kind == K.RESOLVED)} resolved"
    lines = [head, *([f"📟 on call: {oncall}"] if oncall and total else [])]
    for members in group_notices(notices):
        lines.append(_group_head(members[0], len(members)))
        lines.extend(_packed_line(n, links) for n in members)
    for t in tail:
        first = ", ".join(t.first_names[:5])
        pointer = _safe_url(links.alert_list(t.alertname))
        where = f'<a href="{_e(pointer)}">all of them</a>' if pointer else f"/alerts {_e(t.alertname, 100)}"
        verb = "resolved" if t.kind == K.RESOLVED else "more"
        lines.append(f"<i>… +{t.count} {verb} {_e(t.alertname, 100)} [{_e(t.severity, 8)}]"
                     + (f" (named above: {_e(first, 200)})" if first else "") + f": {where}</i>")
    return "\n".join(lines)


def render_packed(notices: Sequence[Notice], *, tail: Sequence[TailCount] = (), fit: bool = True,
                  links: LinkBuilder = LinkBuilder(), limit: int = TELEGRAM_MAX_CHARS,
                  oncall: str | None = None) -> tuple[str, int]:
    """Several alerts in one message, as many of `notices` (in their order) as fit under `limit`
    visible characters and `MAX_ENTITIES`; returns (html, how many were taken). At least one is
    always taken. With fit=False every notice is rendered and the text is shortened safely.
    `oncall`: who is on call (a mention, under the head line), as in `render_alert`."""
    if not notices:
        raise ValueError("render_packed needs at least one notice")
    if not fit:
        return truncate_html(_packed_text(notices, tail, links, oncall), limit), len(notices)
    text, n = fit_count(len(notices), lambda k: _packed_text(notices[:k], tail, links, oncall),
                        lambda t: visible_length(t) <= limit and _entity_count(t) <= MAX_ENTITIES)
    return (text if visible_length(text) <= limit else truncate_html(text, limit)), n


# --- inline keyboards and callback data (64 bytes at most) -----------------------------------------
_CALLBACK = re.compile(r"^(ack|un|sil):(\d{1,19})(?::(1h|24h))?$|^(pa|ps):(\d{1,19})(?::(1h|24h))?$")
# command answers' buttons: a page of /alerts, end a silence (its id), end a maintenance window
_CONSOLE_CALLBACK = re.compile(r"^(ap):(\d{1,6})$|^(us):([0-9a-fA-F-]{4,36})$|^(um):(\d{1,19})$")
_CONSOLE_ACTIONS = {"ap": "alerts_page", "us": "unsilence", "um": "unmute"}


@dataclass(frozen=True)
class Callback:
    """A parsed button press: `ack`/`unack`/`sil` act on one alert, `ack_all`/`sil_all` on every alert of a
    packed message (`target` is then the message reference); `alerts_page` (target: the page),
    `unsilence` (`arg`: the silence id) and `unmute` (target: the window) come from command answers."""

    action: str
    target: int
    duration: str | None = None
    arg: str | None = None


def callback_data(action: str, target: int, duration: str | None = None) -> str:
    data = f"{action}:{int(target)}" + (f":{duration}" if duration else "")
    if len(data.encode()) > 64 or not _CALLBACK.match(data):
        raise ValueError(f"invalid callback data {data!r}")
    return data


def parse_callback_data(data: str) -> Callback | None:
    """`"sil:42:1h"` -> Callback("sil", 42, "1h"); anything else -> None (never trust a client)."""
    m = _CALLBACK.match(data or "")
    if not m:
        c = _CONSOLE_CALLBACK.match(data or "")
        if not c:
            return None
        if c.group(3):
            return Callback("unsilence", 0, arg=c.group(4).lower())
        action = c.group(1) or c.group(5)
        return Callback(_CONSOLE_ACTIONS[action], int(c.group(2) or c.group(6)))
    if m.group(1):
        action, target, duration = m.group(1), int(m.group(2)), m.group(3)
        if (action == "sil") != (duration is not None):
            return None
        return Callback("unack" if action == "un" else action, target, duration)
    action, target, duration = m.group(4), int(m.group(5)), m.group(6)
    if (action == "ps") != (duration is not None):
        return None
    return Callback({"pa": "ack_all", "ps": "sil_all"}[action], target, duration)


def alert_keyboard(alert_id: int, *, acked: bool = False, resolved: bool = False) -> dict[str, Any]:
    if resolved:
        return {"inline_keyboard": []}
    row = [] if acked else [{"text": "✅ Ack", "callback_data": callback_data("ack", alert_id)}]
    row += [{"text": "🔕 Silence 1h", "callback_data": callback_data("sil", alert_id, "1h")},
            {"text": "🔕 Silence 24h", "callback_data": callback_data("sil", alert_id, "24h")}]
    rows = [row]
    if acked:  # the owner (or anyone) may give it back: a row of its own, under the silences
        rows.append([{"text": "↩️ Unack", "callback_data": callback_data("un", alert_id)}])
    return {"inline_keyboard": rows}


PER_LINE_BUTTONS = 6


def packed_keyboard(message_ref: int, open_alerts: Iterable[AlertView]) -> dict[str, Any]:
    """Ack all / Silence all 1h for the message, plus one Ack button per still-open alert when
    there are few enough to fit on a phone."""
    open_list = [a for a in open_alerts if a.id is not None and not a.resolved]
    if not open_list:
        return {"inline_keyboard": []}
    rows: list[list[dict[str, Any]]] = []
    unacked = [a for a in open_list if not a.acknowledged_by]
    if len(unacked) <= PER_LINE_BUTTONS:
        line = [
            {"text": f"✅ {a.identity(24)}", "callback_data": callback_data("ack", int(a.id or 0))} for a in unacked
        ]
        for i in range(0, len(line), 3):
            rows.append(line[i:i + 3])
    all_row = []
    if unacked:
        all_row.append({"text": f"✅ Ack all ({len(unacked)})", "callback_data": callback_data("pa", message_ref)})
    all_row.append({"text": "🔕 Silence all 1h", "callback_data": callback_data("ps", message_ref, "1h")})
    rows.append(all_row)
    return {"inline_keyboard": rows}
