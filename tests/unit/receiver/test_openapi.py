"""/openapi.json describes exactly the app's routes (CONTRACT section 5 plus history), with the
limits the receiver is configured with."""
from __future__ import annotations

import re

from webhook_receiver.app import create_app
from webhook_receiver.settings import load_settings


def test_every_route_is_described_and_every_description_is_a_route(tmp_path) -> None:
    app = create_app(load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}", "NOTIFICATIONS_ENABLED": "true",
                                    "TELEGRAM_POLLING": "false", "DEADMAN_ENABLED": "false", "HISTORY_PRUNE": "false",
                                    "RECEIVER_API_MAX_LIMIT": "500"}))
    try:
        routes = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule), m.lower())
                  for r in app.url_map.iter_rules() if r.endpoint != "static"
                  for m in r.methods - {"HEAD", "OPTIONS"}}
        resp = app.test_client().get("/openapi.json")
        assert resp.status_code == 200
        spec = resp.get_json()
        described = {(p, m) for p, ops in spec["paths"].items() for m in ops}
        assert routes == described, (routes - described, described - routes)
        assert spec["openapi"].startswith("3.0")
        limit = next(p for p in spec["paths"]["/api/alerts"]["get"]["parameters"] if p["name"] == "limit")
        assert limit["schema"]["maximum"] == 500
        for path, ops in spec["paths"].items():
            for op in ops.values():
                if path == "/":  # the root only redirects to the pages' list
                    assert set(op["responses"]) == {"302"}
                    continue
                assert any(code.startswith("2") for code in op["responses"]), path
                assert not any(code.startswith("5") and code != "503" for code in op["responses"]), path
    finally:
        app.extensions["d76_receiver"].close()
