"""Flask app factory (flaskr style): `create_app(settings, planner=None)`.

Domain errors become HTTP answers in ONE place (`_register_error_handlers`): bad input 400,
auth 401, unknown id 404, too large 413, storage unavailable 503 with Retry-After. Bad input is
never a 500.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from .errors import PayloadError, ReceiverError, StorageUnavailable
from .metrics import ReceiverMetrics
from .outbox import OutboxPlanner, noop_planner
from .safejson import BoundedJSONProvider
from .settings import Settings, load_settings
from .store import AlertStore, open_store

__all__ = ["create_app", "get_store", "get_settings", "get_metrics", "get_planner", "ReceiverState"]

log = logging.getLogger("webhook_receiver")

RETRY_AFTER_SECONDS = 5


@dataclass
class ReceiverState:
    settings: Settings
    store: AlertStore
    metrics: ReceiverMetrics


def _state() -> ReceiverState:
    return current_app.extensions["d76_receiver"]


def get_store() -> AlertStore:
    return _state().store


def get_settings() -> Settings:
    return _state().settings


def get_metrics() -> ReceiverMetrics:
    return _state().metrics


def get_planner() -> OutboxPlanner:
    return current_app.config.get("OUTBOX_PLANNER") or noop_planner


def create_app(
    settings: Settings | None = None,
    planner: OutboxPlanner | None = None,
    store: AlertStore | None = None,
) -> Flask:
    """Build the receiver. Opens the store and applies pending migrations (unless
    RECEIVER_APPLY_MIGRATIONS=false). `planner` (or `app.config["OUTBOX_PLANNER"]` set later)
    queues notifications inside each ingest transaction."""
    settings = settings or load_settings()
    app = Flask(__name__)
    app.json = BoundedJSONProvider(app)  # request.get_json() anywhere: bad nesting is a 400, never a 500
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["OUTBOX_PLANNER"] = planner
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    store = store or open_store(settings.database_url, settings)
    if settings.apply_migrations:
        applied = store.migrate()
        if applied:
            log.info("migrations applied", extra={"fields": {"versions": applied, "backend": store.dialect.name}})
    app.extensions["d76_receiver"] = ReceiverState(settings, store, ReceiverMetrics())

    if not settings.auth_enabled:
        log.warning("RECEIVER_TOKEN is not set: no auth (local demo only)")

    from .api import bp

    app.register_blueprint(bp)
    from .runbooks import bp as runbooks_bp

    app.config["D76_RUNBOOKS_DIR"] = settings.raw.get("RUNBOOKS_DIR")
    app.register_blueprint(runbooks_bp)
    _register_request_metrics(app)
    _register_error_handlers(app)
    from .notifiers.service import init_notifications  # planner, /telegram/webhook, dispatcher

    init_notifications(app, store, settings.raw)
    return app


def _register_request_metrics(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.d76_t0 = time.perf_counter()

    @app.after_request
    def _count(resp: Any) -> Any:
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        m = get_metrics()
        m.requests.labels(endpoint, request.method, str(resp.status_code)).inc()
        t0 = g.get("d76_t0")
        if t0 is not None:
            m.request_seconds.labels(endpoint).observe(time.perf_counter() - t0)
        return resp


def _error(status: int, message: str, **extra: Any) -> Any:
    resp = jsonify({"error": message, **extra})
    resp.status_code = status
    return resp


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(StorageUnavailable)
    def _storage(exc: StorageUnavailable) -> Any:
        op = request.url_rule.rule if request.url_rule is not None else "unknown"
        get_metrics().storage_errors.labels(op).inc()
        log.error("storage unavailable", extra={"fields": {"endpoint": op, "error": str(exc)}})
        resp = _error(503, "storage unavailable, retry later")
        resp.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return resp

    @app.errorhandler(PayloadError)
    def _payload(exc: PayloadError) -> Any:
        get_metrics().payload_errors.inc()
        log.warning("bad webhook payload", extra={"fields": {"error": str(exc)}})
        return _error(400, str(exc))

    @app.errorhandler(ReceiverError)
    def _domain(exc: ReceiverError) -> Any:
        resp = _error(exc.status, str(exc), **({"param": exc.param} if hasattr(exc, "param") else {}))
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="d76-receiver"'
        return resp

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        status = exc.code or 500
        if status == 413:
            msg = f"request body larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes"
        else:
            msg = exc.description or exc.name
        return _error(status, msg)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error", extra={"fields": {"exc_type": type(exc).__name__}})
        return _error(500, "internal error")
