"""Slack incoming webhooks (Block Kit). One webhook per severity (`SLACK_WEBHOOK_URL_P1`...) or one for
all (`SLACK_WEBHOOK_URL`); each webhook is its own destination, paced at about one message a second
(Slack's limit), 429 `Retry-After` honoured. Incoming webhooks cannot edit, so resolves and
acknowledgements are new (packable) messages."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from vocabulary import SEVERITIES, NotificationKind, Severity

from ...setting_parsers import load, number, setting, setting_per, url
from ..model import MACHINE_ANNOTATIONS, AlertView, Notice, format_duration
from ..settings import NotifySettings
from . import register
from .base import ChannelLimits, Destination, Part, SettingsClass, TailCount
from .http_webhook import WebhookPoster, post_part, single_part
from .packing import fit_count, group_notices, line_parts, plain_headline, severity_counts

__all__ = ["SlackChannel", "SlackSettings", "slack_payload", "slack_escape"]

_SEV_EMOJI: dict[str, str] = {Severity.P0: ":rotating_light:", Severity.P1: ":warning:", Severity.P2: ":zap:",
              Severity.P3: ":information_source:"}
K = NotificationKind
SECTION_CHARS = 2900  # Slack: 3000 per section text
MAX_BLOCKS = 48       # Slack: 50 per message
MAX_LINES = 100       # beyond this a packed message is a wall on a phone; the rest goes in the next one


def slack_escape(s: str, limit: int = 2900) -> str:
    """Slack mrkdwn needs only &, <, > escaped (https://api.slack.com/reference/surfaces/formatting)."""
    s = s if len(s) <= limit else s[: limit - 1] + "…"
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str | None, label: str) -> str | None:
    if url and url.startswith(("http://", "https://")) and not any(c in url for c in "|> \n"):
        return f"<{url}|{slack_escape(label, 150)}>"
    return None


def slack_payload(alert: AlertView, kind: NotificationKind = K.FIRING) -> dict[str, Any]:
    resolved = kind == K.RESOLVED or alert.resolved
    head = plain_headline(alert, kind, firing_mark=_SEV_EMOJI.get(alert.severity, "") + " ")
    fields = [{"type": "mrkdwn", "text": f"*{slack_escape(k, 50)}*\n`{slack_escape(v, 200)}`"}
              for k, v in [("alertname", alert.alertname), *alert.page_labels()]][:10]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": head[:150], "emoji": True}},
    ]
    action = alert.annotations.get("action")
    if action and not resolved:  # what to do, right under the title
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"👉 *Action*: {slack_escape(action)}"}})
    blocks.append({"type": "section", "fields": fields})
    if alert.value:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*value*: `{slack_escape(alert.value, 200)}`"}}
        )
    if alert.message:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(alert.message)}})
    extra = sorted((k, v) for k, v in alert.annotations.items()
                   if k not in ("summary", "description", "runbook_url", "value", "action")
                   and k not in MACHINE_ANNOTATIONS and v)
    for k, v in extra[:10]:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{slack_escape(k, 50)}*: {slack_escape(v)}"}}
        )
    if resolved and alert.duration_seconds() is not None:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"resolved after {format_duration(alert.duration_seconds() or 0)}"}]})
    links = [x for x in (_link(alert.runbook_url, "Runbook"), _link(alert.generator_url, "Graph")) if x]
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    return {"text": head[:300], "blocks": blocks}


def _line(n: Notice) -> str:
    p = line_parts(n)
    text = f"• {_link(p.runbook_url, p.identity) or slack_escape(p.identity, 160)}"
    if p.value:
        text += f" — `{slack_escape(p.value, 60)}`"
    if p.state:
        text += f" {slack_escape(p.state, 50)}"
    if p.alert_id is not None:
        text += f" #{int(p.alert_id)}"
    return text


def packed_payload(notices: Sequence[Notice], tail: Sequence[TailCount] = ()) -> dict[str, Any]:
    counts = severity_counts(notices)
    firing = sum(c for _, c in counts) + sum(t.count for t in tail if t.kind != K.RESOLVED)
    resolved = sum(1 for n in notices if n.kind == K.RESOLVED) + sum(t.count for t in tail if t.kind == K.RESOLVED)
    head = (f"{_SEV_EMOJI.get(counts[0][0], '') if counts else ''} {firing} alerts firing "
            + "(" + " · ".join(f"{s} {c}" for s, c in counts) + ")") if firing else "✅ Resolved"
    if notices and notices[0].kind in (K.REMINDER, K.ESCALATION):
        what = "🔁 Reminder" if notices[0].kind == K.REMINDER else "⏫ Escalation"
        head = f"{what}: {firing} alerts nobody has acknowledged (" + " · ".join(f"{s} {c}" for s, c in counts) + ")"
    if firing and resolved:
        head += f" · ✅ {resolved} resolved"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": head[:150], "emoji": True}}
    ]
    for members in group_notices(notices):
        first = members[0]
        name = first.alert.alertname if first.alert else ""
        title = (f"✅ *Resolved [{first.severity}] {slack_escape(name, 100)}*" if first.kind == K.RESOLVED
                 else f"{_SEV_EMOJI.get(first.severity, '')} *[{first.severity}] {slack_escape(name, 100)}*")
        chunk = [f"{title} ×{len(members)}"]
        for n in members:
            line = _line(n)
            if sum(len(x) + 1 for x in chunk) + len(line) > SECTION_CHARS:
                blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
                chunk = []
            chunk.append(line)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
    for t in tail:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(
            f"… +{t.count} {'resolved' if t.kind == K.RESOLVED else 'more'} {t.alertname} [{t.severity}]: "
            f"see /alerts {t.alertname}", 300)}]})
    return {"text": head[:300], "blocks": blocks}


@dataclass(frozen=True)
class SlackSettings:
    webhook_url: str | None = setting("SLACK_WEBHOOK_URL", None, "a Slack incoming webhook for every severity the "
                                      "channel map routes to Slack", url, secret=True)
    webhook_urls: Mapping[str, str] = setting_per("SLACK_WEBHOOK_URL_{}", SEVERITIES, "the Slack incoming webhook "
                                                  "for {} (instead of SLACK_WEBHOOK_URL)", url, secret=True)
    min_interval: float = setting("SLACK_MIN_INTERVAL_SECONDS", 1.05, "seconds between two messages to one "
                                  "webhook", number(0.0, 60.0))

    def url_for(self, severity: str) -> str | None:
        return self.webhook_urls.get(severity) or self.webhook_url


@register
class SlackChannel:
    name: ClassVar[str] = "slack"
    settings: ClassVar[SettingsClass] = SlackSettings
    settings_keys: ClassVar[tuple[str, ...]] = ("SLACK_WEBHOOK_URL", *(f"SLACK_WEBHOOK_URL_{s}" for s in SEVERITIES))
    per_alert: ClassVar[bool] = True
    can_edit: ClassVar[bool] = False

    def __init__(self, urls: Mapping[str, str], limits: ChannelLimits) -> None:
        """`urls`: destination key ("P1", ..., or "default") -> webhook URL."""
        self._posters = {key: WebhookPoster("slack", url) for key, url in urls.items()}
        self.limits = limits

    def __repr__(self) -> str:
        return f"SlackChannel(destinations={sorted(self._posters)})"

    @classmethod
    def from_settings(cls, raw: Mapping[str, str], notify: NotifySettings) -> SlackChannel | None:
        s = load(SlackSettings, raw)
        urls = dict(s.webhook_urls)
        if s.webhook_url:
            urls["default"] = s.webhook_url
        if not urls:
            return None
        return cls(urls, ChannelLimits(min_interval=s.min_interval, per_minute=60, max_chars=SECTION_CHARS))

    def destinations(self, severity: str, labels: Mapping[str, str]) -> list[Destination]:
        if severity in self._posters:
            return [Destination(severity)]
        return [Destination("default")] if "default" in self._posters else []

    def render_single(self, notice: Notice, destination: str) -> list[Part]:
        return single_part(self.name, notice, slack_payload)

    def render_packed(self, notices: Sequence[Notice], destination: str, *, tail: Sequence[TailCount] = (),
                      fit: bool = True, message_ref: int | None = None) -> tuple[Part, int]:
        payload, n = fit_count(min(len(notices), MAX_LINES), lambda k: packed_payload(notices[:k], tail),
                               lambda p: len(p["blocks"]) <= MAX_BLOCKS)
        return Part(payload["text"], {"payload": payload}), n

    def send(self, destination: str, part: Part, *, reply_to: str | None = None) -> str | None:
        post_part(self._posters, destination, part, f"slack: no webhook configured for {destination!r}")
        return None

    def edit(self, destination: str, remote_id: str, part: Part) -> None:
        raise NotImplementedError("Slack incoming webhooks cannot edit messages")
