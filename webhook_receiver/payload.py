"""Pure parsing of Alertmanager webhook payloads (version 4), separate from HTTP and storage.

Unknown fields are ignored; known fields are type-checked with a JSON schema, and the error names
the offending field. Every problem raises `PayloadError` (400) and nothing else: the body is
bounded in nesting before it is parsed (`safejson`), `NaN`/`Infinity` and numbers beyond Python's
digit limit are refused, and times that cannot be represented in UTC (`0001-01-01T00:00:00+01:00`)
are a bad field, not an overflow.

Characters a backend refuses (NUL, lone UTF-16 surrogates such as `"\\ud800"`) are *kept and
replaced* by U+FFFD in every string we store: labels (keys and values), annotations, fingerprint,
generatorURL, receiver, groupKey, externalURL (see `storable`). Refusing them with a 400 would make
Alertmanager drop the notification, i.e. the operator would never hear of an alert whose only fault
is one odd character; a visible U+FFFD loses one character instead. The replacement is
deterministic, so the dedup key (fingerprint, startsAt) of a repeat is the same every time. The raw
body kept for audit is the received text itself: valid JSON text never contains a raw NUL or
surrogate (they arrive as `\\u` escapes, which any text column stores), so it is stored verbatim.

Edge cases, decided: duplicate keys -> the last one wins (as in `json.loads`); a leading UTF-8 BOM
is ignored; an empty `alerts` list is a valid payload (stored, no alerts); non-UTF-8 bytes -> 400.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard

import jsonschema

from .errors import PayloadError
from .safejson import JSONError, loads
from .storable import clean_text, clean_tree

__all__ = ["ParsedAlert", "WebhookPayload", "parse_alertmanager_payload", "parse_time", "PAYLOAD_SCHEMA"]

_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}

PAYLOAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "status", "alerts"],
    "properties": {
        "version": {"type": "string"},
        "status": {"enum": ["firing", "resolved"]},
        "receiver": {"type": "string"},
        "groupKey": {"type": "string"},
        "truncatedAlerts": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
        "groupLabels": _STR_MAP,
        "commonLabels": _STR_MAP,
        "commonAnnotations": _STR_MAP,
        "externalURL": {"type": "string"},
        "alerts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["status", "labels", "startsAt", "fingerprint"],
                "properties": {
                    "status": {"enum": ["firing", "resolved"]},
                    "labels": {**_STR_MAP, "required": ["alertname"]},
                    "annotations": _STR_MAP,
                    "startsAt": {"type": "string"},
                    "endsAt": {"type": "string"},
                    "generatorURL": {"type": "string"},
                    "fingerprint": {"type": "string", "minLength": 1, "maxLength": 128},
                },
            },
        },
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(PAYLOAD_SCHEMA)

# Alertmanager sends the Go zero time for "no end".
_ZERO_YEAR = 1


@dataclass(frozen=True)
class ParsedAlert:
    fingerprint: str
    status: str
    starts_at: datetime
    ends_at: datetime | None
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def source(self) -> str:
        return self.labels.get("source", "")

    @property
    def title(self) -> str:
        return self.annotations.get("summary", "") or self.alertname

    @property
    def message(self) -> str:
        return self.annotations.get("description", "")


@dataclass(frozen=True)
class WebhookPayload:
    status: str
    receiver: str
    group_key: str
    external_url: str
    truncated_alerts: int
    alerts: list[ParsedAlert]
    group_labels: dict[str, str] = field(default_factory=dict)
    common_labels: dict[str, str] = field(default_factory=dict)
    raw: str = ""  # the body as received (JSON text), kept for audit


def parse_time(value: str, where: str) -> datetime:
    """RFC 3339 (with Go's nanoseconds and `Z`) -> aware UTC datetime; PayloadError otherwise."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Go may print up to 9 fractional digits; Python takes at most 6.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        digits, tail = rest[:i], rest[i:]
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail}" if digits else head + tail
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(f"{where}: not an RFC 3339 time: {value[:40]!r}") from None
    if dt.tzinfo is None:
        raise PayloadError(f"{where}: time has no timezone: {value[:40]!r}")
    try:
        return dt.astimezone(UTC)
    except (OverflowError, ValueError):  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise PayloadError(f"{where}: time out of range in UTC: {value[:40]!r}") from None


_STATUSES = ("firing", "resolved")
_TOP_STRINGS = ("receiver", "groupKey", "externalURL")
_TOP_MAPS = ("groupLabels", "commonLabels", "commonAnnotations")
_ALERT_STRINGS = ("endsAt", "generatorURL")


def _str_map(v: Any) -> TypeGuard[dict[str, Any]]:
    return type(v) is dict and all(type(x) is str for x in v.values())


def _plainly_valid(data: dict[str, Any]) -> bool:
    """True when `data` plainly satisfies PAYLOAD_SCHEMA (Alertmanager's own bodies always do): the
    same rules written out, strict on types, so the JSON schema (10x slower: most of a single-alert
    ingest's CPU) runs only for a body that may be wrong, to say what is wrong. False never means
    invalid, only "let the schema decide" (e.g. `truncatedAlerts: 1.0`, which the schema accepts as
    an integer). `tests/unit/receiver/test_payload_fast_path.py` checks it never accepts what the schema refuses."""
    if type(data.get("version")) is not str or data.get("status") not in _STATUSES:
        return False
    if any(k in data and type(data[k]) is not str for k in _TOP_STRINGS):
        return False
    if any(k in data and not _str_map(data[k]) for k in _TOP_MAPS):
        return False
    if "truncatedAlerts" in data:
        n = data["truncatedAlerts"]
        if type(n) is not int or not 0 <= n <= 2**31 - 1:
            return False
    alerts = data.get("alerts")
    if type(alerts) is not list:
        return False
    for a in alerts:
        if type(a) is not dict or a.get("status") not in _STATUSES or type(a.get("startsAt")) is not str:
            return False
        fp, labels = a.get("fingerprint"), a.get("labels")
        if type(fp) is not str or not 1 <= len(fp) <= 128 or not _str_map(labels):
            return False
        if "alertname" not in labels:
            return False
        if "annotations" in a and not _str_map(a["annotations"]):
            return False
        if any(k in a and type(a[k]) is not str for k in _ALERT_STRINGS):
            return False
    return True


def _path(err: jsonschema.ValidationError) -> str:
    out = ""
    for part in err.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "payload"


def parse_alertmanager_payload(body: bytes | str | dict[str, Any]) -> WebhookPayload:
    """Validate and normalise one webhook body. Raises `PayloadError` with a precise message."""
    if isinstance(body, dict):
        data = body
        try:  # a dict built in Python may hold raw NUL or surrogates: the stored copy must not
            raw = json.dumps(clean_tree(body), ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError) as exc:
            raise PayloadError(f"payload is not JSON-serialisable: {type(exc).__name__}") from None
    else:
        try:
            raw = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
        except UnicodeDecodeError:
            raise PayloadError("body is not UTF-8") from None
        try:
            data = loads(raw)  # ignores one leading BOM
        except JSONError as exc:
            raise PayloadError(f"body is {exc}" if str(exc).startswith("not ") else str(exc)) from None
        # stored without the BOM; clean_text is a no-op for bytes (a str argument may carry raw
        # lone surrogates)
        raw = clean_text(raw.removeprefix("\ufeff"))
    return _from_data(data, raw)


def _from_data(data: Any, raw: str) -> WebhookPayload:
    if not isinstance(data, dict):
        raise PayloadError("payload must be a JSON object")
    if "version" in data and data["version"] != "4":
        v = data["version"]
        shown = repr(v[:20]) if isinstance(v, str) else f"of type {type(v).__name__}"
        raise PayloadError(f"unsupported payload version {shown}; expected \"4\"")
    if not _plainly_valid(data):  # the schema decides, and names the offending field
        try:
            err = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(data))
        except RecursionError:  # only reachable through the dict argument (bodies are depth-bounded)
            raise PayloadError("payload nested too deeply") from None
        if err is not None:
            raise PayloadError(f"{_path(err)}: {err.message[:200]}")

    alerts: list[ParsedAlert] = []
    for i, a in enumerate(data["alerts"]):
        starts = parse_time(a["startsAt"], f"alerts[{i}].startsAt")
        ends: datetime | None = None
        if a.get("endsAt"):
            e = parse_time(a["endsAt"], f"alerts[{i}].endsAt")
            ends = None if e.year == _ZERO_YEAR else e
        if a["status"] == "firing":
            ends = None  # a firing alert's endsAt is only Alertmanager's resolve timeout guess
        alerts.append(
            ParsedAlert(
                fingerprint=clean_text(a["fingerprint"]),
                status=a["status"],
                starts_at=starts,
                ends_at=ends,
                labels=_clean_map(a["labels"]),
                annotations=_clean_map(a.get("annotations") or {}),
                generator_url=clean_text(a.get("generatorURL", "")),
            )
        )
    return WebhookPayload(
        status=data["status"],
        receiver=clean_text(data.get("receiver", "")),
        group_key=clean_text(data.get("groupKey", "")),
        external_url=clean_text(data.get("externalURL", "")),
        truncated_alerts=int(data.get("truncatedAlerts", 0)),
        alerts=alerts,
        group_labels=_clean_map(data.get("groupLabels") or {}),
        common_labels=_clean_map(data.get("commonLabels") or {}),
        raw=raw,
    )


def _clean_map(m: dict[str, str]) -> dict[str, str]:
    """Labels/annotations with storable keys and values. Two keys that differ only in a refused
    character become one; the later one wins, as with duplicate JSON keys."""
    return {clean_text(k): clean_text(v) for k, v in m.items()}
