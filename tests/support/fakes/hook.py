"""A fake receiver of generic JSON webhooks on loopback (what an escalation step's `webhook: {url}` posts
to: a phone-call or SMS provider's hook). Answers 200 to a JSON object, 400 to anything else; faults
(5xx, 429 with Retry-After, timeouts) come from `inject`."""
from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request, Response

from .base import FakeHTTPServer, RecordedRequest

__all__ = ["FakeHook"]


class FakeHook(FakeHTTPServer):
    def __init__(self) -> None:
        super().__init__()
        self.delivered: list[tuple[str, dict[str, Any]]] = []  # (path, body) answered 200

    def hook_url(self, name: str = "call") -> str:
        return f"{self.url}/hooks/{name}"

    def posts(self, name: str | None = None) -> list[dict[str, Any]]:
        """The JSON bodies it accepted with 200 (`requests` also holds the ones a fault answered)."""
        with self._lock:
            return [b for path, b in self.delivered if name is None or path.endswith("/" + name)]

    def handle(self, request: Request, recorded: RecordedRequest) -> Response:
        if request.method != "POST" or not request.path.startswith("/hooks/"):
            return Response("not found", status=404)
        if request.mimetype != "application/json":
            return Response("expected application/json", status=415)
        try:
            body = json.loads(recorded.body)
        except ValueError:
            return Response("invalid json", status=400)
        if not isinstance(body, dict):
            return Response("expected a JSON object", status=400)
        with self._lock:
            self.delivered.append((request.path, body))
        return Response(json.dumps({"ok": True}), status=200, mimetype="application/json")
