"""Alertmanager's answer to `GET /api/v2/alerts`, parsed and merged over the replicas of a cluster.

Pure functions (no I/O). Entries that do not look like an alert are skipped and counted, never
raised: one odd entry must not stop the history of the others from being reconciled.

Two readings of the same bytes. `signatures` is the cheap one, taken at every poll: only what
decides whether anything changed for the reconciler (each alert's fingerprint, start, state,
silencedBy, inhibitedBy and receivers; not the labels, annotations, nor `endsAt`/`updatedAt`, which
every resend from Prometheus moves), decoded by msgspec into frozen structs that compare in C. A
poll whose signatures equal the last poll's has nothing to reconcile in Alertmanager's view.
`parse_am_alerts` is the full reading (labels, annotations, times), done only when something
changed. Alertmanager lists alerts sorted by fingerprint, so two equal views compare equal as
sequences.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

import msgspec

from ..errors import PayloadError
from ..payload import parse_time
from ..storable import clean_text
from ..store.base import ms_floor
from ..store.episodes import PolledAlert

__all__ = ["parse_am_alert", "parse_am_alerts", "merge_replicas", "parse_am_time", "decode_am_alerts", "signatures",
           "AmSignature", "ParsedAlerts", "end_times"]

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


def parse_am_alert(item: Any) -> PolledAlert | None:
    """One entry of the listing; None when it does not look like an alert."""
    if not isinstance(item, dict):
        return None
    fp, labels, starts = item.get("fingerprint"), _str_map(item.get("labels")), parse_am_time(item.get("startsAt"))
    if not isinstance(fp, str) or not fp or len(fp) > 128 or labels is None or starts is None:
        return None
    status = _obj(item.get("status"))
    receivers = tuple(clean_text(str(r.get("name"))) for r in item.get("receivers") or []
                      if isinstance(r, dict) and r.get("name"))
    return PolledAlert(
        fingerprint=clean_text(fp), starts_at=starts, ends_at=parse_am_time(item.get("endsAt")), labels=labels,
        annotations=_str_map(item.get("annotations")) or {},
        generator_url=clean_text(str(item.get("generatorURL") or "")),
        state=str(status.get("state") or "active"), silenced_by=_str_list(status.get("silencedBy")),
        inhibited_by=_str_list(status.get("inhibitedBy")), receivers=receivers)


def parse_am_alerts(data: Any) -> tuple[list[PolledAlert], int]:
    """(alerts, how many entries were skipped as malformed)."""
    if not isinstance(data, list):
        return [], 1
    out: list[PolledAlert] = []
    bad = 0
    for item in data:
        a = parse_am_alert(item)
        if a is None:
            bad += 1
        else:
            out.append(a)
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


# ---- the cheap reading: what decides a change -----------------------------------------------------
# gc=False: these structs hold only strings and tuples of strings, never a cycle, so the collector
# need not track them (a 10,000-alert answer would otherwise trigger collections while decoding).


class AmStatus(msgspec.Struct, frozen=True, gc=False):
    state: str = ""
    silencedBy: tuple[str, ...] = ()  # Alertmanager's field names
    inhibitedBy: tuple[str, ...] = ()


class AmReceiver(msgspec.Struct, frozen=True, gc=False):
    name: str = ""


class AmSignature(msgspec.Struct, frozen=True, gc=False):
    """One listed alert as far as reconciliation decides anything (fields named as the API names them)."""

    fingerprint: str = ""
    startsAt: str = ""
    status: AmStatus = AmStatus()
    receivers: tuple[AmReceiver, ...] = ()


class _AmEnd(msgspec.Struct, gc=False):
    fingerprint: str = ""
    startsAt: str = ""
    endsAt: str = ""


_SIGNATURES = msgspec.json.Decoder(tuple[AmSignature, ...])
_ENTRIES = msgspec.json.Decoder(list[msgspec.Raw])
_ENDS = msgspec.json.Decoder(list[_AmEnd])
_ANY = msgspec.json.Decoder()


def signatures(raw: bytes) -> tuple[AmSignature, ...] | None:
    """The answer's signatures, or None when it is not the shape Alertmanager gives (then the caller
    must take the full reading, which skips odd entries one by one)."""
    try:
        return _SIGNATURES.decode(raw)
    except msgspec.DecodeError:
        return None


def decode_am_alerts(raw: bytes) -> tuple[list[PolledAlert], int] | None:
    """The full reading of an answer's bytes (`parse_am_alerts` over the decoded JSON); None when it
    is not a JSON list, which is no answer at all (never "Alertmanager holds nothing"). An empty body
    lists nothing, as the JSON client took it."""
    if not raw.strip():
        return [], 0
    try:
        data = _ANY.decode(raw)
    except msgspec.DecodeError:
        return None
    if not isinstance(data, list):
        return None
    return parse_am_alerts(data)


def end_times(raw: bytes, fingerprints: set[str] | None = None) -> dict[tuple[str, datetime], datetime]:
    """The `endsAt` each listed alert (of these fingerprints, or all) reported, by its key
    (fingerprint, millisecond start); {} for an answer of another shape. Read for alerts that have
    just left the listing: the end reported by the last answer that listed them."""
    try:
        items = _ENDS.decode(raw)
    except msgspec.DecodeError:
        return {}
    out: dict[tuple[str, datetime], datetime] = {}
    for it in items:
        if fingerprints is not None and it.fingerprint not in fingerprints:
            continue
        starts, ends = parse_am_time(it.startsAt), parse_am_time(it.endsAt)
        if it.fingerprint and starts is not None and ends is not None:
            out[(clean_text(it.fingerprint), ms_floor(starts))] = ends
    return out


class ParsedAlerts:
    """One replica's alerts fully read, by signature, kept from one full reading to the next: a
    reading parses only the entries whose signature it has not seen (labels, annotations, times), so
    its cost follows what changed. A kept alert's `ends_at` is the end reported when it was first
    read (every resend moves it); the reconciler takes an alert's last reported end from the bytes of
    the last poll that listed it (`end_times`). Its annotations are those of its first reading too:
    the reconciler stores them only for an alert it has not stored yet, which is a new signature."""

    def __init__(self) -> None:
        self._by_sig: dict[AmSignature, PolledAlert | None] = {}  # None: a malformed entry

    def read(self, raw: bytes, sigs: tuple[AmSignature, ...]) -> tuple[list[PolledAlert], int]:
        """`raw`'s alerts, given its signatures (index for index); how many entries were malformed."""
        kept = self._by_sig
        fresh = set(sigs).difference(kept)
        if fresh:
            entries = _ENTRIES.decode(raw)
            # where the new ones are: one scan in C each while they are few
            at = [sigs.index(x) for x in fresh] if len(fresh) <= 32 else [
                i for i, x in enumerate(sigs) if x in fresh]
            for i in at:
                try:
                    kept[sigs[i]] = parse_am_alert(_ANY.decode(entries[i]))
                except msgspec.DecodeError:
                    kept[sigs[i]] = None
        found = list(map(kept.__getitem__, sigs))
        self._by_sig = dict(zip(sigs, found))
        out = [a for a in found if a is not None]
        return out, len(found) - len(out)
