"""Alertmanager's answer to `GET /api/v2/alerts`, parsed and merged over the replicas of a cluster.

Pure functions (no I/O). Entries that do not look like an alert are skipped and counted, never
raised: one odd entry must not stop the history of the others from being reconciled.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from ..errors import PayloadError
from ..payload import parse_time
from ..storable import clean_text
from ..store.episodes import PolledAlert

__all__ = ["parse_am_alerts", "merge_replicas", "parse_am_time"]

_ZERO_YEAR = 1


def parse_am_time(value: Any) -> datetime | None:
    """An API time; None for missing, unparsable or Go's zero time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = parse_time(value, "time")
    except PayloadError:
        return None
    return None if dt.year == _ZERO_YEAR else dt


def _str_map(v: Any) -> dict[str, str] | None:
    if not isinstance(v, dict):
        return None
    return {clean_text(str(k)): clean_text(str(x)) for k, x in v.items()}


def _str_list(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list):
        return ()
    return tuple(clean_text(str(x)) for x in v if isinstance(x, (str, int)) and str(x))


def parse_am_alerts(data: Any) -> tuple[list[PolledAlert], int]:
    """(alerts, how many entries were skipped as malformed)."""
    if not isinstance(data, list):
        return [], 1
    out: list[PolledAlert] = []
    bad = 0
    for item in data:
        if not isinstance(item, dict):
            bad += 1
            continue
        fp, labels, starts = item.get("fingerprint"), _str_map(item.get("labels")), parse_am_time(item.get("startsAt"))
        if not isinstance(fp, str) or not fp or len(fp) > 128 or labels is None or starts is None:
            bad += 1
            continue
        status = _obj(item.get("status"))
        receivers = tuple(clean_text(str(r.get("name"))) for r in item.get("receivers") or []
                          if isinstance(r, dict) and r.get("name"))
        out.append(PolledAlert(
            fingerprint=clean_text(fp), starts_at=starts, ends_at=parse_am_time(item.get("endsAt")), labels=labels,
            annotations=_str_map(item.get("annotations")) or {},
            generator_url=clean_text(str(item.get("generatorURL") or "")),
            state=str(status.get("state") or "active"), silenced_by=_str_list(status.get("silencedBy")),
            inhibited_by=_str_list(status.get("inhibitedBy")), receivers=receivers))
    return out, bad


def merge_replicas(answers: Iterable[list[PolledAlert]]) -> dict[tuple[str, datetime], PolledAlert]:
    """The union of what every reachable replica listed, by (fingerprint, startsAt). An alert
    suppressed on any replica is suppressed (silences gossip, so one replica may lag); the latest
    endsAt is kept (the replica that heard from Prometheus last)."""
    out: dict[tuple[str, datetime], PolledAlert] = {}
    for alerts in answers:
        for a in alerts:
            prev = out.get(a.key)
            if prev is None:
                out[a.key] = a
                continue
            ends = max((x for x in (prev.ends_at, a.ends_at) if x is not None), default=None)
            out[a.key] = replace(
                prev, ends_at=ends,
                silenced_by=tuple(dict.fromkeys(prev.silenced_by + a.silenced_by)),
                inhibited_by=tuple(dict.fromkeys(prev.inhibited_by + a.inhibited_by)),
                receivers=tuple(dict.fromkeys(prev.receivers + a.receivers)),
                state="suppressed" if "suppressed" in (prev.state, a.state) else prev.state)
    return out


def _obj(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}
