"""The webhook's fast path (`payload._plainly_valid`): it accepts Alertmanager's real bodies without
running the JSON schema, and it never accepts a body the schema refuses (when it declines, the schema
decides and names the field, as before)."""
from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fakes.mutations import load_seed_bodies, mutate_body
from webhook_receiver.payload import _VALIDATOR, _plainly_valid
from webhook_receiver.safejson import JSONError, loads

SEEDS = load_seed_bodies()


def _schema_ok(data: Any) -> bool:
    return next(iter(_VALIDATOR.iter_errors(data)), None) is None


def test_alertmanagers_own_bodies_take_the_fast_path() -> None:
    assert SEEDS
    for data in SEEDS:  # real Alertmanager 0.25 bodies
        assert _schema_ok(data) and _plainly_valid(data)
        assert _plainly_valid(json.loads(json.dumps(data)))


@settings(max_examples=500, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=st.builds(mutate_body, st.sampled_from(SEEDS), st.randoms(use_true_random=False)))
def test_the_fast_path_never_accepts_a_mutated_body_the_schema_refuses(body: bytes) -> None:
    try:
        data = loads(body)
    except JSONError:
        return
    if isinstance(data, dict) and _plainly_valid(data):
        assert _schema_ok(data), body[:300]


# any JSON value where the schema wants a particular one
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 2**32), st.floats(allow_nan=False),
                     st.sampled_from(["firing", "resolved", "4", "", "x" * 129, "ok"]))
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.sampled_from(["alertname", "a", "b"]),
                                                                         inner, max_size=3)), max_leaves=6)
_maybe = st.one_of(_values, st.dictionaries(st.sampled_from(["alertname", "severity"]), st.text(max_size=3)))
_alert = st.dictionaries(st.sampled_from(["status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
                                          "fingerprint", "extra"]), _maybe, max_size=8)
_payload = st.fixed_dictionaries({}, optional={
    "version": st.one_of(st.just("4"), _values), "status": st.one_of(st.sampled_from(["firing", "resolved"]), _values),
    "receiver": _maybe, "groupKey": _maybe, "externalURL": _maybe,
    "truncatedAlerts": st.one_of(st.integers(-2, 2**31 + 2), st.floats(allow_nan=False), _values),
    "groupLabels": _maybe, "commonLabels": _maybe, "commonAnnotations": _maybe,
    "alerts": st.one_of(st.lists(_alert, max_size=3), _values)})


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(_payload)
def test_the_fast_path_never_accepts_a_body_the_schema_refuses(data: dict) -> None:
    if _plainly_valid(data):
        assert _schema_ok(data), data
