"""Posting JSON to an incoming webhook (Slack, Discord) with errors classified for the dispatcher.

The URL is itself the secret, so no error text ever contains it. 429 honours the service's wait
(`retry_after` in a JSON body, else the `Retry-After` header); 5xx and network errors are
retryable; other 4xx are permanent (bad payload, webhook deleted).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import requests

from vocabulary import NotificationKind

from ..model import AlertView, Notice
from .base import DeliveryError, Part

__all__ = ["WebhookPoster", "single_part", "post_part"]


def single_part(service: str, notice: Notice,
                payload: Callable[[AlertView, NotificationKind], dict[str, Any]]) -> list[Part]:
    """One alert as one webhook message: its JSON body (`payload`) travels in the part's extras."""
    if notice.alert is None:
        raise ValueError(f"{service}: a {notice.kind!r} notice needs an alert")
    return [Part(notice.alert.title, {"payload": payload(notice.alert, notice.kind)})]


def _seconds(value: Any, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


class WebhookPoster:
    def __init__(self, service: str, url: str, *, timeout: float = 10.0, ok_statuses: tuple[int, ...] = (200,),
                 session: requests.Session | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{service} webhook URL must be http(s)")
        self.service = service
        self._url = url
        self._timeout = (3.05, timeout)
        self._ok = ok_statuses
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"WebhookPoster({self.service}, url=***)"

    def post(self, payload: dict[str, Any]) -> requests.Response:
        try:
            resp = self._session.post(self._url, json=payload, timeout=self._timeout)
        except requests.Timeout:
            raise DeliveryError(f"{self.service}: timed out after {self._timeout[1]:g}s") from None
        except requests.RequestException as exc:
            raise DeliveryError(f"{self.service}: connection failed ({type(exc).__name__})") from None
        if resp.status_code in self._ok:
            return resp
        try:
            body = resp.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        text = str(body.get("message") or resp.text)[:200]
        if resp.status_code == 429:
            wait = body.get("retry_after")
            retry_after = _seconds(wait, _seconds(resp.headers.get("Retry-After"), 1.0))
            raise DeliveryError(f"{self.service}: 429 {text}", retry_after=retry_after, status=429)
        if resp.status_code >= 500:
            raise DeliveryError(f"{self.service}: {resp.status_code} {text}", status=resp.status_code)
        raise DeliveryError(f"{self.service}: {resp.status_code} {text}", permanent=True, status=resp.status_code)


def post_part(posters: Mapping[str, WebhookPoster], destination: str, part: Part, missing: str) -> None:
    """POST a rendered part's payload to the destination's webhook; a destination without one is a
    permanent failure saying `missing`."""
    poster = posters.get(destination)
    if poster is None:
        raise DeliveryError(missing, permanent=True)
    poster.post(part.extras["payload"])
