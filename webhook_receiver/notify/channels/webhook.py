"""A generic webhook for escalation steps: a documented JSON POST, so a phone-call or SMS provider (or
anything else) can be hooked to a step (`webhook: {url: ...}` in `policy.escalation`).

Not per alert: only escalation steps feed it (the channel map's `escalation` names its URLs). A
destination is the URL's key (`wh-` and a digest: the URL may carry a secret, and lanes are logged);
retries, back-off and pacing are the dispatcher's, like any channel's: 2xx is delivered, 429
honours `Retry-After`, 5xx and network errors are retried, other 4xx fail. The body (one POST per
step; several alerts escalated at once in one POST):

    {"version": "1", "kind": "escalation", "step": 2, "after_seconds": 1200,
     "alerts": [{"id": 12, "alertname": "ExchangeFrozen", "severity": "P0", "status": "firing",
                 "title": "upbit is FROZEN", "description": "...", "labels": {...}, "annotations": {...},
                 "starts_at": "2026-11-23T01:00:00+00:00", "firing_seconds": 1234.5,
                 "acknowledged": false, "url": "https://alerts.example.com/alerts/12"}],
     "oncall": {"name": "alice", "telegram_user_id": "4242", "email": "alice@example.com"}}

(`url` is null without RECEIVER_EXTERNAL_URL; `oncall` null when nobody is on call.)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml

from vocabulary import NotificationKind

from ...setting_parsers import load, number, setting
from ..channel_map import ChannelMap, load_channel_map
from ..model import AlertView, Notice
from ..settings import NotifySettings
from . import register
from .base import ChannelLimits, DeliveryError, Destination, Part, SettingsClass, TailCount
from .http_webhook import WebhookPoster, post_part

__all__ = ["WebhookChannel", "WebhookSettings", "escalation_body", "BODY_VERSION"]

BODY_VERSION = "1"
MAX_ALERTS = 100  # alerts in one POST; more go in the next


@dataclass(frozen=True)
class WebhookSettings:
    timeout: float = setting("ESCALATION_WEBHOOK_TIMEOUT_SECONDS", 10.0, "how long an escalation webhook may take "
                             "to answer", number(0.5, 120.0))
    min_interval: float = setting("ESCALATION_WEBHOOK_MIN_INTERVAL_SECONDS", 0.2, "seconds between two posts to "
                                  "one escalation webhook", number(0.0, 60.0))


def _alert(a: AlertView, external_url: str | None) -> dict[str, Any]:
    return {"id": a.id, "alertname": a.alertname, "severity": a.severity, "status": a.status, "title": a.title,
            "description": a.message, "labels": dict(a.labels), "annotations": dict(a.annotations),
            "starts_at": a.starts_at.isoformat() if a.starts_at else None, "firing_seconds": a.firing_seconds(),
            "acknowledged": bool(a.acknowledged_by),
            "url": f"{external_url.rstrip('/')}/alerts/{int(a.id)}" if external_url and a.id is not None else None}


def escalation_body(notices: Sequence[Notice], external_url: str | None = None) -> dict[str, Any]:
    """The documented JSON body of one POST (see the module docstring)."""
    first = notices[0].payload if notices else {}
    return {"version": BODY_VERSION, "kind": "escalation", "step": int(first.get("step") or 1),
            "after_seconds": first.get("after"),
            "alerts": [_alert(n.alert, external_url) for n in notices if n.alert is not None],
            "oncall": first.get("oncall") if isinstance(first.get("oncall"), Mapping) else None}


@register
class WebhookChannel:
    """Escalation steps posted as JSON to the URLs the escalation policy names."""

    name: ClassVar[str] = "webhook"
    settings: ClassVar[SettingsClass] = WebhookSettings
    settings_keys: ClassVar[tuple[str, ...]] = ()  # fed by escalation steps only; configures nothing by itself
    per_alert: ClassVar[bool] = False
    can_edit: ClassVar[bool] = False

    def __init__(self, config: WebhookSettings, external_url: str | None = None) -> None:
        self.config = config
        self.external_url = external_url
        self.limits = ChannelLimits(min_interval=config.min_interval, per_minute=120, max_chars=1_000_000)
        self._posters: dict[str, WebhookPoster] = {}

    def __repr__(self) -> str:
        return f"WebhookChannel(targets={sorted(self._posters)})"

    @classmethod
    def from_settings(cls, raw: Mapping[str, str], notify: NotifySettings) -> WebhookChannel | None:
        """Present when the channel map's escalation steps name a webhook (the service reports a map
        that does not load; here it only means no webhook)."""
        config = load(WebhookSettings, raw)
        try:
            urls = load_channel_map(notify.channel_map_path).escalation.webhook_urls()
        except (ValueError, OSError, yaml.YAMLError):
            return None
        return cls(config, notify.external_url) if urls else None

    def use_channel_map(self, channel_map: ChannelMap) -> None:
        """The URLs of the escalation steps, by key."""
        self._posters = {key: WebhookPoster("webhook", url, timeout=self.config.timeout,
                                            ok_statuses=tuple(range(200, 300)))
                         for key, url in channel_map.escalation.webhook_urls().items()}

    def destinations(self, severity: str, labels: Mapping[str, str]) -> list[Destination]:
        return []  # nothing per alert

    def _part(self, notices: Sequence[Notice]) -> Part:
        if any(n.kind != NotificationKind.ESCALATION or n.alert is None for n in notices):
            raise DeliveryError("webhook: only escalation steps about an alert are posted", permanent=True)
        body = escalation_body(notices, self.external_url)
        return Part(f"escalation of {len(body['alerts'])} alert(s)", {"payload": body})

    def render_single(self, notice: Notice, destination: str) -> list[Part]:
        return [self._part([notice])]

    def render_packed(self, notices: Sequence[Notice], destination: str, *, tail: Sequence[TailCount] = (),
                      fit: bool = True, message_ref: int | None = None) -> tuple[Part, int]:
        take = list(notices[:MAX_ALERTS]) if fit else list(notices)
        return self._part(take), len(take)

    def send(self, destination: str, part: Part, *, reply_to: str | None = None) -> str | None:
        post_part(self._posters, destination, part,
                  f"webhook: no escalation webhook {destination!r} in the channel map")
        return None

    def edit(self, destination: str, remote_id: str, part: Part) -> None:
        raise NotImplementedError("a webhook cannot be edited")
