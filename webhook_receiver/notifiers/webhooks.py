"""Slack (Block Kit) and Discord (embeds) webhook channels.

Both POST JSON to a URL that is itself the secret, so errors never include it. 429 honours the
service's wait (Slack: `Retry-After` header; Discord: JSON `retry_after`, else the header); 5xx and
network errors are retryable; other 4xx are permanent (bad payload, webhook deleted).
"""
from __future__ import annotations

from typing import Any

import requests

from .errors import DeliveryError
from .model import AlertView, format_duration

__all__ = ["SlackWebhook", "DiscordWebhook", "slack_payload", "discord_payload"]

_SEV_COLOR = {"P0": 0xD32F2F, "P1": 0xF57C00, "P2": 0xFBC02D, "P3": 0x1976D2}
_SEV_EMOJI = {"P0": ":rotating_light:", "P1": ":warning:", "P2": ":zap:", "P3": ":information_source:"}


def _slack_escape(s: str, limit: int = 2900) -> str:
    """Slack mrkdwn needs only &, <, > escaped (https://api.slack.com/reference/surfaces/formatting)."""
    s = s if len(s) <= limit else s[: limit - 1] + "…"
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _post(kind: str, session: requests.Session, url: str, payload: dict, timeout: tuple[float, float]) -> requests.Response:
    try:
        return session.post(url, json=payload, timeout=timeout)
    except requests.Timeout:
        raise DeliveryError(f"{kind}: timed out after {timeout[1]:g}s") from None
    except requests.RequestException as exc:
        raise DeliveryError(f"{kind}: connection failed ({type(exc).__name__})") from None


def slack_payload(alert: AlertView, kind: str = "firing") -> dict[str, Any]:
    resolved = kind == "resolved" or alert.status == "resolved"
    head = ("✅ RESOLVED " if resolved else _SEV_EMOJI.get(alert.severity, "") + " ") + \
        f"[{alert.severity}] {alert.title}"
    fields = [{"type": "mrkdwn", "text": f"*{_slack_escape(k, 50)}*\n`{_slack_escape(v, 200)}`"}
              for k, v in [("alertname", alert.alertname), *alert.identifying_labels()]][:10]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": head[:150], "emoji": True}},
        {"type": "section", "fields": fields},
    ]
    if alert.message:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(alert.message)}})
    if resolved and alert.duration_seconds() is not None:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"resolved after {format_duration(alert.duration_seconds() or 0)}"}]})
    links = []
    for label, url in (("Runbook", alert.runbook_url), ("Graph", alert.generator_url)):
        if url and url.startswith(("http://", "https://")) and "|" not in url and ">" not in url:
            links.append(f"<{url}|{label}>")
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    return {"text": head[:300], "blocks": blocks}


def discord_payload(alert: AlertView, kind: str = "firing") -> dict[str, Any]:
    resolved = kind == "resolved" or alert.status == "resolved"
    title = ("✅ RESOLVED " if resolved else "") + f"[{alert.severity}] {alert.title}"
    embed: dict[str, Any] = {
        "title": title[:256],
        "description": (alert.message or "")[:4000],
        "color": 0x388E3C if resolved else _SEV_COLOR.get(alert.severity, 0x757575),
        "fields": [{"name": k[:256], "value": (v or "-")[:1024], "inline": True}
                   for k, v in [("alertname", alert.alertname), *alert.identifying_labels()]][:25],
    }
    if alert.runbook_url and alert.runbook_url.startswith(("http://", "https://")):
        embed["url"] = alert.runbook_url
    if alert.starts_at:
        embed["timestamp"] = alert.starts_at.isoformat()
    # allowed_mentions: a label value like "@everyone" must never ping anyone
    return {"embeds": [embed], "allowed_mentions": {"parse": []}}


class _Webhook:
    kind = "webhook"

    def __init__(self, url: str, *, timeout: float = 10.0, session: requests.Session | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{self.kind} webhook URL must be http(s)")
        self._url = url
        self._timeout = (3.05, timeout)
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url=***)"


class SlackWebhook(_Webhook):
    kind = "slack"

    def post(self, payload: dict[str, Any]) -> None:
        resp = _post("slack", self._session, self._url, payload, self._timeout)
        if resp.status_code == 200:
            return
        text = resp.text[:200]
        if resp.status_code == 429:
            raise DeliveryError(f"slack: 429 {text}", retry_after=_seconds(resp.headers.get("Retry-After"), 1.0),
                                status=429)
        if resp.status_code >= 500:
            raise DeliveryError(f"slack: {resp.status_code} {text}", status=resp.status_code)
        raise DeliveryError(f"slack: {resp.status_code} {text}", permanent=True, status=resp.status_code)

    def send(self, alert: AlertView, kind: str = "firing") -> None:
        self.post(slack_payload(alert, kind))


class DiscordWebhook(_Webhook):
    kind = "discord"

    def post(self, payload: dict[str, Any]) -> None:
        resp = _post("discord", self._session, self._url, payload, self._timeout)
        if resp.status_code in (200, 204):
            return
        try:
            body = resp.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        text = str(body.get("message") or resp.text)[:200]
        if resp.status_code == 429:
            wait = body.get("retry_after")
            retry_after = float(wait) if isinstance(wait, (int, float)) else _seconds(resp.headers.get("Retry-After"), 1.0)
            raise DeliveryError(f"discord: 429 {text}", retry_after=retry_after, status=429)
        if resp.status_code >= 500:
            raise DeliveryError(f"discord: {resp.status_code} {text}", status=resp.status_code)
        raise DeliveryError(f"discord: {resp.status_code} {text}", permanent=True, status=resp.status_code)

    def send(self, alert: AlertView, kind: str = "firing") -> None:
        self.post(discord_payload(alert, kind))


def _seconds(value: str | None, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default
