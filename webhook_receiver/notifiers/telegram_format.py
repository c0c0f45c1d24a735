"""Telegram HTML messages in the seeds' format, always well-formed and under 4096 characters.

Every label and annotation value goes through `html.escape` (Telegram's HTML mode only knows `<`,
`>`, `&`, `"` entities). Long values are cut *before* escaping so an entity is never split, and the
whole message is measured *after* entity parsing (what Telegram counts) and, if needed, shortened by
`truncate_html`, which cuts text only between characters and closes every open tag.
"""
from __future__ import annotations

import html
import re
from collections import Counter
from datetime import datetime, timezone
from typing import Iterable, Mapping, Sequence

from .model import AlertView, format_duration, severity_rank

__all__ = [
    "SEVERITY_EMOJI", "TELEGRAM_MAX_CHARS", "format_alert", "format_resolved", "format_acked",
    "format_summary", "format_deadman", "alert_keyboard", "callback_data", "parse_callback_data",
    "truncate_html", "visible_length",
]

TELEGRAM_MAX_CHARS = 4096
SEVERITY_EMOJI = {"P0": "🚨", "P1": "⚠️", "P2": "⚡", "P3": "ℹ️"}
MAX_LABEL_VALUE = 200
MAX_DESCRIPTION = 3000
ELLIPSIS = "…"

_TOKEN = re.compile(r"(<[^>]*>)|(&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);)|([^<&]+)|(.)", re.S)
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)")


def _utf16(s: str) -> int:
    """Telegram counts UTF-16 code units; measuring that way is the safe side for emoji."""
    return len(s.encode("utf-16-le")) // 2


def visible_length(text_html: str) -> int:
    """Length of the message after entity parsing, in UTF-16 code units."""
    total = 0
    for tag, ent, text, other in _TOKEN.findall(text_html):
        if tag:
            continue
        total += _utf16(html.unescape(ent) if ent else (text or other))
    return total


def truncate_html(text_html: str, limit: int = TELEGRAM_MAX_CHARS, marker: str = ELLIPSIS) -> str:
    """Shorten well-formed Telegram HTML to at most `limit` visible characters without breaking it.

    Text is cut between characters (never inside an entity or a tag) and all tags still open at the
    cut are closed in reverse order, so the result parses whenever the input did.
    """
    if visible_length(text_html) <= limit:
        return text_html
    budget = limit - _utf16(marker)
    out: list[str] = []
    stack: list[str] = []
    used = 0
    for tag, ent, text, other in _TOKEN.findall(text_html):
        if tag:
            m = _TAG.match(tag)
            if m:
                closing, name = m.group(1) == "/", m.group(2).lower()
                if closing:
                    if stack and stack[-1] == name:
                        stack.pop()
                else:
                    stack.append(name)
            out.append(tag)
            continue
        if ent:
            n = _utf16(html.unescape(ent))
            if used + n > budget:
                break
            out.append(ent)
            used += n
            continue
        chunk = text or other
        room = budget - used
        if _utf16(chunk) <= room:
            out.append(chunk)
            used += _utf16(chunk)
            continue
        piece = ""
        for ch in chunk:
            if _utf16(piece + ch) > room:
                break
            piece += ch
        out.append(piece)
        used += _utf16(piece)
        break
    # drop a trailing opening tag with nothing inside it (e.g. a cut right after "<a href=...>")
    out.append(html.escape(marker))
    out.extend(f"</{name}>" for name in reversed(stack))
    return "".join(out)


def _e(value: object, limit: int | None = None) -> str:
    s = str(value)
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + ELLIPSIS
    return html.escape(s, quote=True)


def _safe_url(url: str | None) -> str | None:
    if not url:
        return None
    url = url.strip()
    if not re.match(r"^https?://", url, re.I) or len(url) > 2000:
        return None
    return url


def _links(alert: AlertView) -> str:
    links = []
    runbook = _safe_url(alert.runbook_url)
    graph = _safe_url(alert.generator_url)
    if runbook:
        links.append(f'<a href="{_e(runbook)}">📖 Runbook</a>')
    if graph:
        links.append(f'<a href="{_e(graph)}">📈 Graph</a>')
    return " | ".join(links)


def _body(alert: AlertView) -> list[str]:
    lines: list[str] = []
    labels = [f"<b>{_e(k, 64)}</b>: <code>{_e(v, MAX_LABEL_VALUE)}</code>" for k, v in alert.identifying_labels()]
    lines.append(f"<b>alert</b>: <code>{_e(alert.alertname, MAX_LABEL_VALUE)}</code>"
                 + (f" · <b>source</b>: <code>{_e(alert.source, 64)}</code>" if alert.source else ""))
    lines.extend(labels)
    if alert.message:
        lines.append("")
        lines.append(_e(alert.message, MAX_DESCRIPTION))
    action = alert.annotations.get("action")
    if action:
        lines.append(f"<b>Action</b>: {_e(action, 1000)}")
    links = _links(alert)
    if links:
        lines.append("")
        lines.append(links)
    return lines


def _finish(lines: Iterable[str]) -> str:
    return truncate_html("\n".join(lines))


def _ts(dt: datetime | None) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if dt else "?"


def format_alert(alert: AlertView) -> str:
    """The firing message: `🚨 [P0] title`, labels, description, action, links."""
    emoji = SEVERITY_EMOJI.get(alert.severity, "🔔")
    head = f"{emoji} <b>[{_e(alert.severity or '?', 8)}] {_e(alert.title, 300)}</b>"
    lines = [head, *_body(alert), "", f"<i>since {_ts(alert.starts_at)}</i>"]
    if alert.acknowledged_by:
        lines.append(f"👤 Acked by {_e(alert.acknowledged_by, 64)} at {_ts(alert.acknowledged_at)}")
    return _finish(lines)


def format_resolved(alert: AlertView) -> str:
    """The edited (or new) message once the alert resolved, with how long it lasted."""
    head = f"✅ <b>RESOLVED [{_e(alert.severity or '?', 8)}] {_e(alert.title, 300)}</b>"
    duration = alert.duration_seconds()
    lines = [head, *_body(alert), "",
             f"<i>resolved at {_ts(alert.ends_at)}"
             + (f" after {format_duration(duration)}" if duration is not None else "") + "</i>"]
    if alert.acknowledged_by:
        lines.append(f"👤 Acked by {_e(alert.acknowledged_by, 64)} at {_ts(alert.acknowledged_at)}")
    return _finish(lines)


def format_acked(alert: AlertView, by: str, at: datetime) -> str:
    """The firing message as edited after an Ack press."""
    acked = AlertView(**{**alert.__dict__, "acknowledged_by": by, "acknowledged_at": at})
    return format_alert(acked)


def format_summary(folded: Mapping[str, Sequence[str]]) -> str:
    """Storm summary for what pacing folded, one line per severity, P0 first:
    "+37 more P2 alerts: RouteScoreLow ×20, ..." (counts by alertname)."""
    lines = []
    for severity in sorted(folded, key=severity_rank):
        names = folded[severity]
        if not names:
            continue
        counts = Counter(names)
        emoji = SEVERITY_EMOJI.get(severity, "🔔")
        parts = ", ".join(f"{_e(name, 100)} ×{n}" for name, n in counts.most_common(15))
        if len(counts) > 15:
            parts += f", … and {len(counts) - 15} more alert names"
        lines.append(f"{emoji} <b>+{len(names)} more {_e(severity, 8)} alerts</b>: {parts}")
    lines.append("<i>Folded to stay within Telegram limits; every alert is in the history (GET /api/alerts).</i>")
    return truncate_html("\n".join(lines))


def format_deadman(down: bool, silent_for: float, at: datetime) -> str:
    if down:
        return (f"🚨 <b>[P0] Alerting pipeline is down</b>\n"
                f"No Watchdog alert received for {format_duration(silent_for)} (since {_ts(at)}).\n"
                f"<b>Action</b>: check Prometheus, Alertmanager and the receiver; alerts may not be reaching you.")
    return (f"✅ <b>Alerting pipeline recovered</b>\nWatchdog received again at {_ts(at)} "
            f"after {format_duration(silent_for)} of silence.")


# inline keyboard -----------------------------------------------------------------------------
_CALLBACK = re.compile(r"^(ack|sil):(\d{1,19})(?::(1h|24h))?$")


def callback_data(action: str, alert_id: int, duration: str | None = None) -> str:
    data = f"{action}:{int(alert_id)}" + (f":{duration}" if duration else "")
    if len(data.encode()) > 64 or not _CALLBACK.match(data):
        raise ValueError(f"invalid callback data {data!r}")
    return data


def parse_callback_data(data: str) -> tuple[str, int, str | None] | None:
    """`"sil:42:1h"` -> ("sil", 42, "1h"); anything else -> None (never trust a client)."""
    m = _CALLBACK.match(data or "")
    if not m:
        return None
    action, alert_id, duration = m.group(1), int(m.group(2)), m.group(3)
    if (action == "sil") != (duration is not None):
        return None
    return action, alert_id, duration


def alert_keyboard(alert_id: int, *, acked: bool = False) -> dict:
    row = [] if acked else [{"text": "✅ Ack", "callback_data": callback_data("ack", alert_id)}]
    row += [{"text": "🔕 Silence 1h", "callback_data": callback_data("sil", alert_id, "1h")},
            {"text": "🔕 Silence 24h", "callback_data": callback_data("sil", alert_id, "24h")}]
    return {"inline_keyboard": [row]}
