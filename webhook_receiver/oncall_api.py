"""On call over HTTP (what `d76 oncall` calls): `GET /api/oncall` (now, next, the days ahead) and
`POST /api/oncall/take` (someone is on call for a while: an override stored like `/oncall take` from
the phone). Guarded like the rest of the API (bearer token); bad input is a 400 naming the key."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, jsonify, request

from .api import require_auth
from .errors import QueryError
from .history.export import iso
from .notify.commands import parse_duration
from .notify.oncall import Override, Shift
from .notify.oncall_board import MAX_TAKE, MIN_TAKE, UnknownPerson
from .safejson import JSONError, loads
from .state import runtime
from .storable import clean_text

__all__ = ["bp", "openapi_paths"]

bp = Blueprint("oncall", __name__)
MAX_DAYS = 31


def _shift(s: Shift | None) -> dict[str, Any] | None:
    if s is None:
        return None
    p = s.person
    return {"person": p.name if p else None, "telegram": (p.telegram_user_id or (
        f"@{p.telegram_username}" if p.telegram_username else None)) if p else None,
            "email": p.email if p else None, "start": iso(s.start) if s.start else None,
            "until": iso(s.until) if s.until else None, "why": s.why}


def _taken(o: Override) -> dict[str, Any]:
    return {"id": o.id, "person": o.who, "start": iso(o.start), "until": iso(o.until), "by": o.by}


def _answer(days: int) -> dict[str, Any]:
    board = runtime().oncall
    if not board:
        return {"configured": False, "now": None, "next": None, "ahead": [], "rotation": None, "people": []}
    shown = board.show(datetime.now(UTC), days=days)
    r = board.policy.rotation
    return {"configured": True, "now": _shift(shown.now), "next": _shift(shown.next),
            "ahead": [_shift(s) for s in shown.ahead], "rotation": r.describe() if r else None,
            "timezone": board.policy.zone.key, "people": list(board.policy.people)}


@bp.get("/api/oncall")
def oncall() -> Any:
    require_auth()
    unknown = sorted(set(request.args) - {"days"})
    if unknown:
        raise QueryError(unknown[0], "unknown parameter; known: days")
    text = request.args.get("days") or "7"
    if not text.isdigit() or not 0 <= int(text) <= MAX_DAYS:
        raise QueryError("days", f"an integer between 0 and {MAX_DAYS}")
    return jsonify(_answer(int(text)))


@bp.post("/api/oncall/take")
def take() -> Any:
    require_auth()
    try:
        body = loads(request.get_data(cache=True) or b"null")
    except JSONError:
        body = None
    if not isinstance(body, dict):
        raise QueryError("body", 'expected a JSON object like {"who": "bob", "duration": "4h", "by": "kim"}')
    extra = sorted(set(body) - {"who", "duration", "by"})
    if extra:
        raise QueryError(str(extra[0]), "unknown key; known: who, duration, by")
    board = runtime().oncall
    who, duration, by = body.get("who"), body.get("duration"), body.get("by", "api")
    if not isinstance(who, str) or not who.strip() or len(who) > 64:
        raise QueryError("who", "the name of one of the people on call (policy.oncall.people)")
    if not board:
        raise QueryError("who", "no on-call rotation is configured (policy.oncall in the override file)")
    try:
        person = board.person_named(who.strip())
    except UnknownPerson as exc:
        raise QueryError("who", str(exc)) from None
    d = parse_duration(duration) if isinstance(duration, str) else None
    if d is None or not MIN_TAKE <= d <= MAX_TAKE:
        raise QueryError("duration", f"a duration like 30m, 4h or 2d, between 1m and {MAX_TAKE.days}d")
    if not isinstance(by, str) or not by.strip() or len(by) > 200:
        raise QueryError("by", "a non-empty string of at most 200 characters")
    taken = board.take(person, d, clean_text(by.strip()), datetime.now(UTC))
    return jsonify({"taken": _taken(taken), **_answer(7)})


_SHIFT = {"type": "object", "nullable": True, "properties": {
    "person": {"type": "string", "nullable": True}, "telegram": {"type": "string", "nullable": True},
    "email": {"type": "string", "nullable": True}, "start": {"type": "string", "format": "date-time", "nullable": True},
    "until": {"type": "string", "format": "date-time", "nullable": True},
    "why": {"type": "string", "enum": ["rotation", "override", "taken", "nobody"]}}}
_ONCALL = {"configured": {"type": "boolean"}, "now": _SHIFT, "next": _SHIFT,
           "ahead": {"type": "array", "items": _SHIFT}, "rotation": {"type": "string", "nullable": True},
           "timezone": {"type": "string"}, "people": {"type": "array", "items": {"type": "string"}}}


def openapi_paths(bearer: list[dict[str, list[str]]], errors: dict[str, Any]) -> dict[str, Any]:
    """The two paths described (`openapi.spec` adds them); `errors`: its 400/401/503 answers."""
    def ok(**props: Any) -> dict[str, Any]:
        return {"description": "OK", "content": {"application/json": {"schema": {"type": "object",
                                                                              "properties": props}}}}

    return {
        "/api/oncall": {"get": {
            "summary": "Who is on call now, next, and the shifts of the days ahead (rotation, overrides, taken)",
            "security": bearer,
            "parameters": [{"name": "days", "in": "query", "allowEmptyValue": True,
                            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_DAYS, "default": 7}}],
            "responses": {"200": ok(**_ONCALL), **errors}}},
        "/api/oncall/take": {"post": {
            "summary": "Someone is on call for a while (stored; wins over the rotation until it ends)",
            "security": bearer,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["who", "duration"], "properties": {
                    "who": {"type": "string", "minLength": 1, "maxLength": 64},
                    "duration": {"type": "string", "description": "30m, 4h, 2d (1m to 30d)"},
                    "by": {"type": "string", "minLength": 1, "maxLength": 200}}}}}},
            "responses": {"200": ok(taken={"type": "object"}, **_ONCALL), **errors}}},
    }
