"""Flask app factory (flaskr style): `create_app(settings, store=None, hook=None)`.

The app is the HTTP face of one `ReceiverRuntime` (store, notifications, history jobs), which it
builds and starts; `close_app(app)` stops it.

Domain errors become HTTP answers in ONE place (`_register_error_handlers`): bad input 400,
auth 401, unknown id 404, too large 413, storage unavailable 503 with Retry-After. Bad input is
never a 500.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from .errors import PayloadError, ReceiverError, StorageUnavailable
from .runtime import ReceiverRuntime
from .safejson import BoundedJSONProvider
from .settings import Settings, load_settings
from .state import EXTENSION, runtime
from .store import AlertStore, IngestHook, open_store

__all__ = ["create_app", "close_app"]

log = logging.getLogger("webhook_receiver")

RETRY_AFTER_SECONDS = 5


def create_app(settings: Settings | None = None, store: AlertStore | None = None,
               hook: IngestHook | None = None, *, start: bool = True, **notify_options: Any) -> Flask:
    """Build the receiver. Opens the store and applies pending migrations (unless
    RECEIVER_APPLY_MIGRATIONS=false), builds its runtime (notifications when they are enabled, the
    history jobs) and starts it (unless `start=False`). `hook` replaces the ingest hook (tests);
    `notify_options` go to the notification service (e.g. `channels={...}` to replace a channel)."""
    settings = settings or load_settings()
    app = Flask(__name__)
    json = BoundedJSONProvider(app)  # request.get_json() anywhere: bad nesting is a 400, never a 500
    json.sort_keys = False
    json.ensure_ascii = False
    app.json = json
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes

    store = store or open_store(settings.database_url, settings)
    if settings.apply_migrations:
        applied = store.migrate()
        if applied:
            log.info("migrations applied", extra={"fields": {"versions": applied, "backend": store.dialect.name}})
    rt = ReceiverRuntime(settings, store, hook=hook, notify_options=notify_options)
    app.extensions[EXTENSION] = rt

    if not settings.auth_enabled:
        log.warning("RECEIVER_TOKEN is not set: no auth (local demo only)")

    from .api import bp
    from .oncall_api import bp as oncall_bp
    from .page_actions import bp as page_actions_bp
    from .pages import bp as pages_bp
    from .runbooks import bp as runbooks_bp

    app.register_blueprint(bp)
    app.register_blueprint(oncall_bp)  # /api/oncall: who is on call, take it
    app.config["D76_RUNBOOKS_DIR"] = settings.runbooks_dir
    app.register_blueprint(runbooks_bp)
    app.register_blueprint(pages_bp)  # /alerts/<id>, /alerts: the HTML pages links in messages open
    app.register_blueprint(page_actions_bp)  # POST /alerts/<id>/ack|unack|silence from those pages
    for channel_bp in rt.notify.blueprints if rt.notify is not None else ():
        app.register_blueprint(channel_bp)  # e.g. POST /telegram/webhook
    _register_request_metrics(app)
    _register_error_handlers(app)
    if start:
        rt.start()
    return app


def close_app(app: Flask) -> None:
    """Stop what `create_app` started: the background threads first, then the store they use."""
    rt = app.extensions.get(EXTENSION)
    if isinstance(rt, ReceiverRuntime):
        rt.close()


def _register_request_metrics(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.d76_t0 = time.perf_counter()

    @app.after_request
    def _count(resp: Any) -> Any:
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        m = runtime().metrics
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
        runtime().metrics.storage_errors.labels(op).inc()
        log.error("storage unavailable", extra={"fields": {"endpoint": op, "error": str(exc)}})
        resp = _error(503, "storage unavailable, retry later")
        resp.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return resp

    @app.errorhandler(PayloadError)
    def _payload(exc: PayloadError) -> Any:
        runtime().metrics.payload_errors.inc()
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
            msg = f"request body larger than {app.config['MAX_CONTENT_LENGTH']} bytes"
        else:
            msg = exc.description or exc.name
        return _error(status, msg)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error", extra={"fields": {"exc_type": type(exc).__name__}})
        return _error(500, "internal error")
