"""The simulator's HTTP surface: ``/metrics`` and the ``/scenario`` control endpoint on one port.

* ``GET /metrics``   the registry (gzip when accepted)
* ``GET /scenario``  ``{"scenario", "target", "applied_at", "ticks", "available": [{"name", "description",
  "target_kind"}...]}``
* ``POST /scenario`` JSON ``{"scenario": NAME, "target": optional}`` -> 200
  ``{"scenario", "target", "applied_at"}``, the new values already published; 400 JSON
  ``{"error"}`` for bad JSON, an unknown scenario or an unknown target.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from exporter.serve import make_metrics_app

from .engine import BadTarget, Simulator
from .scenarios import SCENARIOS, UnknownScenario

__all__ = ["make_simulator_app"]

MAX_BODY = 64 * 1024


def _json(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def make_simulator_app(sim: Simulator) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    metrics_app = make_metrics_app(sim.metrics.registry)

    def scenario_get(start_response: Callable[..., Any]) -> list[bytes]:
        return _json(start_response, "200 OK", {
            "scenario": sim.scenario, "target": sim.target, "applied_at": sim.applied_at,
            "ticks": sim.ticks,
            "available": [{"name": s.name, "description": s.description, "target_kind": s.target_kind}
                          for s in SCENARIOS],
        })

    def scenario_post(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            return _json(start_response, "400 Bad Request", {"error": "bad or missing Content-Length"})
        raw = environ["wsgi.input"].read(length)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return _json(start_response, "400 Bad Request", {"error": "body is not valid JSON"})
        if not isinstance(body, dict) or not isinstance(body.get("scenario"), str):
            return _json(start_response, "400 Bad Request",
                         {"error": 'expected a JSON object {"scenario": NAME, "target": optional}'})
        target = body.get("target")
        if target is not None and not isinstance(target, str):
            return _json(start_response, "400 Bad Request", {"error": "target must be a string"})
        try:
            applied_at = sim.set_scenario(body["scenario"], target)
        except (UnknownScenario, BadTarget) as exc:
            return _json(start_response, "400 Bad Request", {"error": str(exc)})
        return _json(start_response, "200 OK",
                     {"scenario": sim.scenario, "target": sim.target, "applied_at": applied_at})

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/metrics":
            return metrics_app(environ, start_response)
        if path == "/scenario":
            if method == "GET":
                return scenario_get(start_response)
            if method == "POST":
                return scenario_post(environ, start_response)
            start_response("405 Method Not Allowed", [("Allow", "GET, POST"), ("Content-Length", "0")])
            return [b""]
        if path == "/":
            text = (f"D75 simulator: scenario {sim.scenario}; GET /metrics, GET|POST /scenario\n").encode()
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(text)))])
            return [text]
        return _json(start_response, "404 Not Found", {"error": f"no such path {path}"})

    return app
