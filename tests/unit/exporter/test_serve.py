"""The /metrics WSGI app: text format, gzip when accepted, mounted inside a Flask app."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from exporter import D75Metrics, ExchangeHealthHooks, make_metrics_app


@pytest.fixture
def metrics(tmp_path: Path) -> D75Metrics:
    m = D75Metrics(CollectorRegistry(), data_dir=tmp_path)
    ExchangeHealthHooks(m).on_status("upbit", "FROZEN")
    return m


def _status(text: str) -> float:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "d75_exchange_health_status" and s.labels == {"exchange": "upbit"}:
                return s.value
    raise AssertionError("status sample missing")


def test_plain_text_format(metrics: D75Metrics) -> None:
    resp = Client(make_metrics_app(metrics.registry)).get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "Content-Encoding" not in resp.headers
    assert _status(resp.get_data(as_text=True)) == 3


def test_gzip_when_the_client_accepts_it(metrics: D75Metrics) -> None:
    app = make_metrics_app(metrics.registry)
    resp = Client(app).get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert resp.headers["Content-Encoding"] == "gzip"
    text = gzip.decompress(resp.get_data()).decode()
    assert _status(text) == 3
    plain = Client(app).get("/metrics").get_data()
    assert len(resp.get_data()) < len(plain) / 2


def test_compression_can_be_disabled(metrics: D75Metrics) -> None:
    app = make_metrics_app(metrics.registry, disable_compression=True)
    resp = Client(app).get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in resp.headers
    assert _status(resp.get_data(as_text=True)) == 3


def test_mounted_in_a_flask_app_with_dispatcher_middleware(metrics: D75Metrics) -> None:
    """The module docstring's recipe, verbatim in spirit: the bot's own routes keep working."""
    app = Flask("bot")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/metrics": make_metrics_app(metrics.registry)})  # type: ignore[method-assign]
    client = app.test_client()
    assert client.get("/health").get_json() == {"status": "ok"}
    resp = client.get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert resp.status_code == 200
    assert _status(gzip.decompress(resp.get_data()).decode()) == 3
    assert client.get("/nope").status_code == 404
