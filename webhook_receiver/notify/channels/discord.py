"""Discord webhooks (embeds). Paced under Discord's webhook limits (a few requests per second, about
30 a minute per channel); 429 `retry_after` in the JSON body honoured. Mentions are disabled, so a
label value like "@everyone" never pings anyone."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from vocabulary import NotificationKind, Severity

from ...setting_parsers import integer, load, number, setting, url
from ..model import MACHINE_ANNOTATIONS, AlertView, Notice
from ..settings import NotifySettings
from . import register
from .base import ChannelLimits, Destination, Part, SettingsClass, TailCount
from .http_webhook import WebhookPoster, single_part
from .packing import fit_count, group_notices, line_parts, plain_headline, severity_counts

__all__ = ["DiscordChannel", "DiscordSettings", "discord_payload"]

_SEV_COLOR: dict[str, int] = {Severity.P0: 0xD32F2F, Severity.P1: 0xF57C00, Severity.P2: 0xFBC02D,
                              Severity.P3: 0x1976D2}
K = NotificationKind
DESCRIPTION_CHARS = 4096
EMBED_TOTAL_CHARS = 6000
_NO_MENTIONS: dict[str, list[str]] = {"parse": []}


def discord_payload(alert: AlertView, kind: NotificationKind = K.FIRING) -> dict[str, Any]:
    resolved = kind == K.RESOLVED or alert.resolved
    title = plain_headline(alert, kind)
    extra = sorted((k, v) for k, v in alert.annotations.items()
                   if k not in ("summary", "description", "runbook_url", "action")
                   and k not in MACHINE_ANNOTATIONS and v)
    fields = [{"name": k[:256], "value": (v or "-")[:1024], "inline": True}
              for k, v in [("alertname", alert.alertname), *alert.page_labels()]]
    fields += [{"name": k[:256], "value": v[:1024], "inline": False} for k, v in extra]
    action = alert.annotations.get("action")
    # what to do first, right under the title; then the description (with its `Now:` line)
    text = (f"👉 **Action**: {action}\n\n" if action and not resolved else "") + (alert.message or "")
    embed: dict[str, Any] = {
        "title": title[:256],
        "description": text[:DESCRIPTION_CHARS],
        "color": 0x388E3C if resolved else _SEV_COLOR.get(alert.severity, 0x757575),
        "fields": fields[:25],
    }
    if alert.runbook_url and alert.runbook_url.startswith(("http://", "https://")):
        embed["url"] = alert.runbook_url
    if alert.starts_at:
        embed["timestamp"] = alert.starts_at.isoformat()
    return {"embeds": [embed], "allowed_mentions": _NO_MENTIONS}


def _line(n: Notice) -> str:
    p = line_parts(n)
    text = f"• {p.identity}" + (f" — {p.value}" if p.value else "") + (f" {p.state}" if p.state else "")
    if p.alert_id is not None:
        text += f" #{int(p.alert_id)}"
    return text[:300]


def packed_payload(notices: Sequence[Notice], tail: Sequence[TailCount] = ()) -> dict[str, Any]:
    counts = severity_counts(notices)
    firing = sum(c for _, c in counts) + sum(t.count for t in tail if t.kind != K.RESOLVED)
    title = (f"{firing} alerts firing (" + " · ".join(f"{s} {c}" for s, c in counts) + ")") if firing else "✅ Resolved"
    if notices and notices[0].kind in (K.REMINDER, K.ESCALATION):
        what = "🔁 Reminder" if notices[0].kind == K.REMINDER else "⏫ Escalation"
        title = f"{what}: {firing} alerts nobody has acknowledged (" + " · ".join(f"{s} {c}" for s, c in counts) + ")"
    lines: list[str] = []
    for members in group_notices(notices):
        first = members[0]
        name = first.alert.alertname if first.alert else ""
        lines.append(
            f"**{'✅ Resolved ' if first.kind == K.RESOLVED else ''}[{first.severity}] {name}** ×{len(members)}"
        )
        lines.extend(_line(n) for n in members)
    for t in tail:
        lines.append(f"*… +{t.count} {'resolved' if t.kind == K.RESOLVED else 'more'} {t.alertname} [{t.severity}]: "
                     f"see /alerts {t.alertname}*")
    color = _SEV_COLOR.get(counts[0][0], 0x757575) if counts else 0x388E3C
    return {"embeds": [{"title": title[:256], "description": "\n".join(lines), "color": color}],
            "allowed_mentions": _NO_MENTIONS}


def _fits(payload: dict[str, Any]) -> bool:
    e = payload["embeds"][0]
    return len(e["description"]) <= DESCRIPTION_CHARS and len(e["description"]) + len(e["title"]) <= EMBED_TOTAL_CHARS


@dataclass(frozen=True)
class DiscordSettings:
    webhook_url: str | None = setting("DISCORD_WEBHOOK_URL", None, "a Discord webhook for the severities the "
                                      "channel map routes to Discord", url, secret=True)
    min_interval: float = setting("DISCORD_MIN_INTERVAL_SECONDS", 0.5, "seconds between two messages",
                                  number(0.0, 60.0))
    per_minute: int = setting("DISCORD_PER_MINUTE", 30, "messages in a minute", integer(1, 10_000))


@register
class DiscordChannel:
    name: ClassVar[str] = "discord"
    settings: ClassVar[SettingsClass] = DiscordSettings
    settings_keys: ClassVar[tuple[str, ...]] = ("DISCORD_WEBHOOK_URL",)
    per_alert: ClassVar[bool] = True
    can_edit: ClassVar[bool] = False

    def __init__(self, url: str, limits: ChannelLimits) -> None:
        self._poster = WebhookPoster("discord", url, ok_statuses=(200, 204))
        self.limits = limits

    def __repr__(self) -> str:
        return "DiscordChannel(url=***)"

    @classmethod
    def from_settings(cls, raw: Mapping[str, str], notify: NotifySettings) -> DiscordChannel | None:
        s = load(DiscordSettings, raw)
        if not s.webhook_url:
            return None
        return cls(s.webhook_url, ChannelLimits(min_interval=s.min_interval, per_minute=s.per_minute,
                                                max_chars=DESCRIPTION_CHARS))

    def destinations(self, severity: str, labels: Mapping[str, str]) -> list[Destination]:
        return [Destination("default")]

    def render_single(self, notice: Notice, destination: str) -> list[Part]:
        return single_part(self.name, notice, discord_payload)

    def render_packed(self, notices: Sequence[Notice], destination: str, *, tail: Sequence[TailCount] = (),
                      fit: bool = True, message_ref: int | None = None) -> tuple[Part, int]:
        payload, n = fit_count(len(notices), lambda k: packed_payload(notices[:k], tail), _fits)
        if not _fits(payload):
            e = payload["embeds"][0]
            e["description"] = e["description"][: DESCRIPTION_CHARS - 1] + "…"
        return Part(payload["embeds"][0]["title"], {"payload": payload}), n

    def send(self, destination: str, part: Part, *, reply_to: str | None = None) -> str | None:
        self._poster.post(part.extras["payload"])
        return None

    def edit(self, destination: str, remote_id: str, part: Part) -> None:
        raise NotImplementedError("Discord webhooks are used without editing")
