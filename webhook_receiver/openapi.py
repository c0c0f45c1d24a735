"""The receiver's HTTP API described as OpenAPI 3.0 (served at `GET /openapi.json`).

Hand-written in one place, next to the routes it describes (`api.py`, the Telegram webhook in
`notify/channels/telegram/updates.py`, `runbooks.py`). `tests/unit/receiver/test_openapi.py` checks
that every route of the app is described and every described path is a route; the integration test
runs schemathesis against a live receiver (no input may get a 5xx).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .payload import PAYLOAD_SCHEMA

if TYPE_CHECKING:
    from .settings import Settings

__all__ = ["spec", "PUBLIC_PATHS"]

# paths answered without a token
PUBLIC_PATHS = ("/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/runbooks/", "/runbooks/{slug}",
                "/telegram/webhook")

_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"},
                                                                 "param": {"type": "string"}}}
_TIME = {"type": "string", "format": "date-time"}
_HTML = {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}
_HTML_ERR = {**_HTML, "description": "HTML page saying what is wrong"}
_R429 = {**_HTML, "description": "too many wrong tokens from this client within a minute",
         "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}}
_OPT_TIME = {"type": "string", "format": "date-time", "nullable": True}
_AM_DOWN = {**_HTML_ERR, "description": "Alertmanager refused the silence or cannot be reached"}


def _err(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


_R400 = _err("bad parameter or body (`param` names it)")
_R401 = _err("missing or wrong bearer token (when RECEIVER_TOKEN is set)")
_R404 = _err("no such alert")
_R503 = {**_err("storage unavailable; retry later"),
         "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}}

# Every query parameter is optional and an empty value means "not given" (allowEmptyValue). The
# patterns are exactly what the API accepts (severities case-insensitive, comma separated).
_SEVERITIES = r"^ *[Pp][0-3] *(, *[Pp][0-3] *)*$"
_BOOLEAN = r"^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Yy][Ee][Ss]|[Nn][Oo]|1|0)$"


def _q(name: str, schema: dict[str, Any], description: str = "", **extra: Any) -> dict[str, Any]:
    out = {"name": name, "in": "query", "allowEmptyValue": True, "schema": schema, **extra}
    if description:
        out["description"] = description
    return out


_FILTERS: list[dict[str, Any]] = [
    _q("since", _TIME, "alerts that started at or after (RFC 3339); with active: not ended before"),
    _q("until", _TIME, "alerts that started before (RFC 3339)"),
    _q("active", {"type": "string", "pattern": _BOOLEAN}, "true: since/until select the alerts active in the "
       "window (started before until, not ended before since) instead of those that started in it"),
    _q("severity", {"type": "array", "items": {"type": "string", "pattern": _SEVERITIES}},
       "P0..P3; repeatable, or comma separated", style="form", explode=True),
    _q("source", {"type": "string", "maxLength": 200}),
    _q("status", {"type": "string", "enum": ["firing", "resolved"]}),
    _q("acknowledged", {"type": "string", "pattern": _BOOLEAN}, "true or false (also yes/no, 1/0)"),
    _q("alertname", {"type": "string", "maxLength": 200}),
    _q("cursor", {"type": "string"}, "`next_cursor` of the previous page"),
]
_ID = {"name": "alert_id", "in": "path", "required": True,
       "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999_999_999_999}}
_PAGE_ID = {**_ID, "schema": {"type": "string"}}  # a page answers any text (an HTML 400 when not an id)


def _limit(maximum: int, default: int) -> dict[str, Any]:
    return _q("limit", {"type": "integer", "minimum": 1, "maximum": maximum, "default": default})


def _json(schema: dict[str, Any], desc: str = "OK") -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def _ok(**properties: Any) -> dict[str, Any]:
    """A 200 answering a JSON object with these properties."""
    return _json({"type": "object", "properties": properties})


_INT = {"type": "integer"}
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
_ALERT_REF = {"$ref": "#/components/schemas/Alert"}


_ALERT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "fingerprint": {"type": "string"}, "starts_at": _TIME,
        "alertname": {"type": "string"}, "status": {"type": "string", "enum": ["firing", "resolved"]},
        "severity": {"type": "string"}, "source": {"type": "string"}, "title": {"type": "string"},
        "message": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "metadata": {"type": "object"}, "timestamp": _TIME, "last_received_at": _TIME, "ends_at": _OPT_TIME,
        "receive_count": {"type": "integer"}, "acknowledged": {"type": "boolean"},
        "acknowledged_at": _OPT_TIME, "acknowledged_by": {"type": "string", "nullable": True},
        "ack_comment": {"type": "string", "nullable": True}, "silenced_until": _OPT_TIME,
        "silence_id": {"type": "string", "nullable": True}, "silenced_at": _OPT_TIME,
        "reconciled_at": {**_OPT_TIME, "description": "set when the history reconciler resolved it because "
                                                      "Alertmanager no longer had it"},
        "am_last_seen_at": _OPT_TIME,
        "origin": {"type": "string", "enum": ["webhook", "alertmanager"],
                   "description": "`alertmanager`: first stored from Alertmanager's API (suppressed from the start)"},
        "reminders_sent": {"type": "integer", "description": "reminders that went out while nobody owned it"},
        "escalations_sent": {"type": "integer", "description": "escalation steps that went out"},
        "last_comment": {"type": "string", "nullable": True, "description": "the latest comment (the "
                         "acknowledgement's, a later one, or an unacknowledgement's); `ack_comment` is the ack's own"},
        "last_comment_by": {"type": "string", "nullable": True, "description": "who wrote `last_comment`"},
    },
}
_ACTOR_BODY = {
    "required": False,
    "content": {"application/json": {"schema": {"type": "object", "properties": {
        "by": {"type": "string", "minLength": 1, "maxLength": 200},
        "comment": {"type": "string", "maxLength": 2000}}}}},
}


def spec(settings: Settings | None = None, server_url: str | None = None) -> dict[str, Any]:
    """The description; limits as `settings` configure them (defaults without)."""
    from .settings import Settings

    s = settings or Settings()
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    paths: dict[str, Any] = {
        "/webhook/alertmanager": {
            "post": {
                "summary": "Alertmanager webhook (payload version 4); 200 only once durably stored",
                "security": bearer,
                "requestBody": {"required": True, "content": {"application/json": {"schema": PAYLOAD_SCHEMA}}},
                "responses": {
                    "200": _ok(status={"type": "string"}, payload_id=_INT, alerts=_INT, changes=_COUNTS),
                    "400": _R400,
                    "401": _R401,
                    "413": _err("body too large"),
                    "503": _R503,
                },
            }
        },
        "/api/alerts": {
            "get": {
                "summary": "History, newest first",
                "security": bearer,
                "parameters": [*_FILTERS, _limit(s.api_max_limit, s.api_default_limit)],
                "responses": {
                    "200": _ok(alerts={"type": "array", "items": _ALERT_REF}, count=_INT,
                               next_cursor={"type": "string", "nullable": True}),
                    "400": _R400,
                    "401": _R401,
                    "503": _R503,
                },
            }
        },
        "/api/alerts.csv": {
            "get": {
                "summary": "History as CSV (same filters); X-Next-Cursor when more rows match",
                "security": bearer,
                "parameters": [*_FILTERS, _limit(s.api_export_max_rows, 10_000)],
                "responses": {
                    "200": {
                        "description": "CSV, one row per alert occurrence",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    "400": _R400,
                    "401": _R401,
                    "503": _R503,
                },
            }
        },
        "/api/alerts/{alert_id}": {
            "get": {
                "summary": "One alert with its notification deliveries",
                "security": bearer,
                "parameters": [_ID],
                "responses": {
                    "200": _ok(alert=_ALERT_REF),
                    "400": _R400,
                    "401": _R401,
                    "404": _R404,
                    "503": _R503,
                },
            }
        },
        "/api/alerts/{alert_id}/timeline": {
            "get": {
                "summary": "Fired, each notification, acknowledged, silenced, suppressed episodes, resolved; durations",
                "security": bearer,
                "parameters": [_ID],
                "responses": {
                    "200": _ok(
                        alert=_ALERT_REF,
                        events={"type": "array", "items": {"type": "object", "required": ["at", "event"],
                                                           "properties": {"at": _TIME, "event": {"type": "string"}}}},
                        durations={"type": "object", "properties": {
                            k: {"type": "number", "nullable": True}
                            for k in ("time_to_notify_seconds", "time_to_acknowledge_seconds",
                                      "time_to_resolve_seconds", "suppressed_seconds")}},
                        episodes={"type": "array", "items": {"type": "object"}},
                    ),
                    "400": _R400,
                    "401": _R401,
                    "404": _R404,
                    "503": _R503,
                },
            }
        },
        "/api/alerts/{alert_id}/ack": {
            "post": {
                "summary": "Acknowledge: the caller owns it until it resolves (reminders and escalation stop); "
                           "on an acknowledged alert, adds the comment",
                "security": bearer,
                "parameters": [_ID],
                "requestBody": _ACTOR_BODY,
                "responses": {
                    "200": _ok(changed={"type": "boolean"}, comment_added={"type": "boolean"}, alert=_ALERT_REF),
                    "400": _R400,
                    "401": _R401,
                    "404": _R404,
                    "503": _R503,
                },
            }
        },
        "/api/alerts/{alert_id}/unack": {
            "post": {
                "summary": "Give an acknowledged alert back: nobody owns it; reminders and escalation start again",
                "security": bearer,
                "parameters": [_ID],
                "requestBody": _ACTOR_BODY,
                "responses": {
                    "200": _ok(changed={"type": "boolean"}, alert=_ALERT_REF),
                    "400": _R400,
                    "401": _R401,
                    "404": _R404,
                    "503": _R503,
                },
            }
        },
        "/api/stats": {
            "get": {
                "summary": "Counts by severity, source and status of the alerts active in the window (started "
                           "before until, not ended before since; by_status.firing: what fires now); mean time "
                           "to acknowledge and to resolve",
                "security": bearer,
                "parameters": [
                    _q("since", _TIME, "default: no lower bound (without since and until: everything stored)"),
                    _q("until", _TIME, "default: no upper bound"),
                ],
                "responses": {
                    "200": _ok(since=_OPT_TIME, until=_OPT_TIME, total=_INT, acknowledged=_INT, by_severity=_COUNTS,
                               by_source=_COUNTS, by_status=_COUNTS,
                               mean_time_to_acknowledge_seconds={"type": "number", "nullable": True},
                               mean_time_to_resolve_seconds={"type": "number", "nullable": True}),
                    "400": _R400,
                    "401": _R401,
                    "503": _R503,
                },
            }
        },
        "/telegram/webhook": {
            "post": {
                "summary": "Telegram updates (Ack / Silence buttons); present when notifications are on",
                "parameters": [
                    {
                        "name": "X-Telegram-Bot-Api-Secret-Token",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {
                    "200": _json({"type": "object"}),
                    "400": _R400,
                    "401": _R401,
                    "403": _err("the webhook is off (TELEGRAM_WEBHOOK_SECRET unset)"),
                    "503": _R503,
                },
            }
        },
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _json({"type": "object"})}}},
        "/readyz": {
            "get": {
                "summary": "Readiness (storage reachable)",
                "responses": {"200": _json({"type": "object"}), "503": _R503},
            }
        },
        "/metrics": {
            "get": {
                "summary": "The receiver's own Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {"get": {"summary": "This description", "responses": {"200": _json({"type": "object"})}}},
        "/runbooks/": {
            "get": {"summary": "Runbook index", "responses": {"200": _HTML, "404": _err("runbooks not available")}}
        },
        "/": {"get": {"summary": "The receiver's root: redirects to the list of alerts",
                      "responses": {"302": {"description": "to alerts"}}}},
        "/alerts": {
            "get": {
                "summary": 'Human-readable list of alerts (what a packed message\'s "+N more" link opens): '
                "the API's filters, `refresh=SECONDS` (10 to 3600: the page reloads itself), `watchdog=show` "
                "(the heartbeat is hidden otherwise); a sign-in form when RECEIVER_TOKEN is set and no cookie",
                "responses": {"200": _HTML, "400": _HTML_ERR},
            },
            "post": {
                "summary": "Sign in to the pages with the receiver token (sets a cookie)",
                "responses": {"200": _HTML, "303": {"description": "signed in"}, "401": _HTML_ERR, "429": _R429},
            },
        },
        "/alerts/{alert_id}": {
            "get": {
                "summary": "Human-readable page of one alert (what a history link opens)",
                "parameters": [_PAGE_ID],
                "responses": {"200": _HTML, "400": _HTML_ERR, "404": _HTML_ERR},
            },
            "post": {
                "summary": "Sign in to the pages with the receiver token (sets a cookie)",
                "parameters": [_PAGE_ID],
                "responses": {"200": _HTML, "303": {"description": "signed in"}, "401": _HTML_ERR, "429": _R429},
            },
        },
        **{f"/alerts/{{alert_id}}/{what}": {
            "post": {
                "summary": f"{summary} from the alert's page (a form: the page's cookie, or the bearer token; a "
                           "browser's form carries its session's token)",
                "parameters": [_PAGE_ID],
                "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
                    "type": "object", "required": ["by"], "properties": {
                        "csrf": {"type": "string"}, "by": {"type": "string", "minLength": 1, "maxLength": 64},
                        "comment": {"type": "string", "maxLength": 500}, **extra}}}}},
                "responses": {"200": {**_HTML, "description": "the alert's page, once the redirect is followed"},
                              "303": {"description": "done: back to the alert's page"}, "400": _HTML_ERR,
                              "401": _HTML_ERR, "403": _HTML_ERR, "404": _HTML_ERR,
                              **({"503": _AM_DOWN} if what == "silence" else {})},
            }
        } for what, summary, extra in (
            ("ack", "Acknowledge (or, when acknowledged, add the comment)", {}),
            ("unack", "Give an acknowledged alert back", {}),
            ("silence", "Silence in Alertmanager", {"duration": {"type": "string", "enum": ["1h", "4h", "24h"]}}))},
        "/runbooks/{slug}": {
            "get": {
                "summary": "One runbook page (HTML; `<slug>.md`: its Markdown); `alert=ID` fills in that alert's "
                "values when the pages let the request in",
                "parameters": [{"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}},
                               {"name": "alert", "in": "query", "required": False, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "HTML, or Markdown for `<slug>.md`",
                                      "content": {"text/html": {"schema": {"type": "string"}},
                                                  "text/markdown": {"schema": {"type": "string"}}}},
                              "404": _err("no such runbook")},
            }
        },
    }
    from .oncall_api import openapi_paths

    paths.update(openapi_paths(bearer, {"400": _R400, "401": _R401, "503": _R503}))
    out: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "D76 alert receiver", "version": "1",
                 "description": "Alertmanager webhook receiver: durable alert history, acknowledgements, "
                                "timelines and export (CONTRACT section 5)."},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "RECEIVER_TOKEN (no auth when it is unset)"}},
            "schemas": {"Error": _ERROR, "Alert": _ALERT},
        },
    }
    if server_url:
        out["servers"] = [{"url": server_url}]
    return out
