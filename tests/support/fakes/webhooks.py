"""Fake Slack incoming webhook and Discord webhook on loopback.

Slack answers ``200 ok`` (text) and, like Slack, ``400 invalid_payload`` when the body is not JSON with
`text` or `blocks`. Discord answers ``204`` (or 200 with the message when ``?wait=true``) and
``400`` JSON when there is neither `content` nor `embeds`. `rate_limit()` injects each service's real
429 shape: Slack a `Retry-After` header, Discord a JSON body with `retry_after` plus the header.
"""
from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request, Response

from .base import FakeHTTPServer, Fault, RecordedRequest

__all__ = ["FakeSlack", "FakeDiscord"]


class FakeSlack(FakeHTTPServer):
    """`hook_url(name)` gives a distinct webhook URL per channel (e.g. "p1", "p2")."""

    def hook_url(self, name: str = "default") -> str:
        return f"{self.url}/services/T000/B000/{name}"

    def posts(self, name: str | None = None) -> list[dict]:
        return [r.json for r in self.requests
                if r.method == "POST" and (name is None or r.path.endswith("/" + name))]

    def rate_limit(self, retry_after: int = 1, times: int = 1) -> None:
        self.inject(Fault(status=429, body="rate_limited", headers={"Retry-After": str(retry_after)}, times=times))

    def handle(self, request: Request, recorded: RecordedRequest) -> Response:
        if request.method != "POST" or not request.path.startswith("/services/"):
            return Response("no_service", status=404)
        try:
            body = json.loads(recorded.body)
        except ValueError:
            return Response("invalid_payload", status=400)
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return Response("invalid_payload", status=400)
        if len(body.get("blocks") or []) > 50:
            return Response("invalid_blocks", status=400)
        return Response("ok", status=200, mimetype="text/plain")


class FakeDiscord(FakeHTTPServer):
    def hook_url(self, name: str = "default") -> str:
        return f"{self.url}/api/webhooks/1234/{name}"

    def posts(self) -> list[dict]:
        return [r.json for r in self.requests if r.method == "POST"]

    def rate_limit(self, retry_after: float = 0.5, times: int = 1) -> None:
        self.inject(Fault(status=429, times=times, headers={"Retry-After": str(max(1, int(retry_after)))},
                          body={"message": "You are being rate limited.", "retry_after": retry_after,
                                "global": False}))

    def handle(self, request: Request, recorded: RecordedRequest) -> Response:
        if request.method != "POST" or not request.path.startswith("/api/webhooks/"):
            return Response(json.dumps({"message": "Unknown Webhook", "code": 10015}), status=404,
                            mimetype="application/json")
        try:
            body: Any = json.loads(recorded.body)
        except ValueError:
            return Response(json.dumps({"message": "Cannot send an empty message", "code": 50006}),
                            status=400, mimetype="application/json")
        if not isinstance(body, dict) or not (body.get("content") or body.get("embeds")):
            return Response(json.dumps({"message": "Cannot send an empty message", "code": 50006}),
                            status=400, mimetype="application/json")
        if len(body.get("content") or "") > 2000 or len(body.get("embeds") or []) > 10:
            return Response(json.dumps({"message": "Invalid Form Body", "code": 50035}),
                            status=400, mimetype="application/json")
        if request.args.get("wait") == "true":
            return Response(json.dumps({"id": str(len(self.requests)), **body}), status=200,
                            mimetype="application/json")
        return Response(status=204)
