"""Property-based fuzzing of the real app on SQLite and on PostgreSQL (a real server).

Mutated Alertmanager bodies (from the 0.25 fixtures) are posted to `/webhook/alertmanager`:
never a 5xx; a 4xx is JSON with an error; every 200 is really stored (each alert of the body is
read back through `/api/alerts`). The query API and the ack endpoint get odd parameters and
bodies: never a 5xx either. Deterministic (derandomized) and bounded to stay well under a minute.
"""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import paths
from tests.support.fakes.mutations import ODD_TIMES, load_seed_bodies, mutate_body
from webhook_receiver.errors import PayloadError
from webhook_receiver.payload import parse_alertmanager_payload
from webhook_receiver.store.base import REPLICA_START_WINDOW

SEEDS = load_seed_bodies()
TOKEN = "fuzz-token"
HDR = {"Authorization": f"Bearer {TOKEN}"}
ANY_CHAR = st.characters(exclude_categories=())
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture
def client(database_url: str, make_app) -> Any:
    return make_app({"DATABASE_URL": database_url, "RECEIVER_TOKEN": TOKEN}).test_client()


def _iso(dt: Any) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _assert_stored(client: Any, body: bytes) -> None:
    """Each (fingerprint, startsAt) of an accepted body can be read back through the API: at its own
    start, or at the start of the firing occurrence of that fingerprint it joined (another replica's
    start of the same occurrence, REPLICA_START_WINDOW)."""
    parsed = parse_alertmanager_payload(body)  # accepted by the app, so it parses
    for key in {(a.fingerprint, a.starts_at) for a in parsed.alerts}:
        fingerprint, starts = key
        try:
            q = f"/api/alerts?limit=1000&since={quote(_iso(starts - REPLICA_START_WINDOW))}"
        except OverflowError:
            q = "/api/alerts?limit=1000"
        try:
            q += f"&until={quote(_iso(starts + REPLICA_START_WINDOW + timedelta(microseconds=1)))}"
        except OverflowError:
            pass
        r = client.get(q, headers=HDR)
        assert r.status_code == 200, r.get_data(as_text=True)
        assert fingerprint in {a["fingerprint"] for a in r.get_json()["alerts"]}, (fingerprint, starts)


def test_mutated_webhook_bodies_never_5xx_and_every_200_is_stored(client: Any) -> None:
    seen: dict[int, int] = {}

    @settings(FUZZ, max_examples=1000)
    @given(body=st.builds(mutate_body, st.sampled_from(SEEDS), st.randoms(use_true_random=False)))
    def run(body: bytes) -> None:
        r = client.post("/webhook/alertmanager", data=body, headers=HDR, content_type="application/json")
        seen[r.status_code] = seen.get(r.status_code, 0) + 1
        assert r.status_code < 500, (r.status_code, r.get_data(as_text=True)[:300], body[:300])
        assert r.status_code in (200, 400, 413), r.status_code
        if r.status_code == 200:
            assert r.get_json()["status"] == "stored"
            _assert_stored(client, body)
        else:
            assert r.get_json()["error"]

    run()
    print(f"\nstatuses: {dict(sorted(seen.items()))}")
    assert seen.get(200, 0) >= 20 and seen.get(400, 0) >= 20  # both paths were exercised


def test_any_character_in_any_field_is_stored_or_refused_never_5xx(client: Any) -> None:
    @FUZZ
    @given(field=st.sampled_from(["alertname", "exchange", "summary", "fingerprint", "receiver", "label_key"]),
           text=st.text(ANY_CHAR, min_size=1, max_size=30), ascii_only=st.booleans())
    def run(field: str, text: str, ascii_only: bool) -> None:
        doc = json.loads(json.dumps(SEEDS[1]))
        a = doc["alerts"][0]
        if field in ("alertname", "exchange"):
            a["labels"][field] = text
        elif field == "label_key":
            a["labels"][text] = "v"
        elif field == "summary":
            a["annotations"]["summary"] = text
        elif field == "fingerprint":
            a["fingerprint"] = text
        else:
            doc["receiver"] = text
        body = json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
        r = client.post("/webhook/alertmanager", data=body, headers=HDR, content_type="application/json")
        try:
            parse_alertmanager_payload(body)
            valid = True
        except PayloadError:
            valid = False
        assert r.status_code == (200 if valid else 400), r.get_data(as_text=True)[:300]
        if valid:
            _assert_stored(client, body)

    run()


_odd_text = st.one_of(
    st.text(ANY_CHAR, max_size=30), st.sampled_from(["9" * 5000, "-1", "0", "1e9", "NaN", *ODD_TIMES])
)


def test_query_and_ack_endpoints_never_5xx(client: Any) -> None:
    body = (paths.AM_FIXTURES / "firing-p0-single.json").read_bytes()
    assert (
        client.post("/webhook/alertmanager", data=body, headers=HDR, content_type="application/json").status_code == 200
    )
    names = ["since", "until", "severity", "source", "status", "acknowledged", "alertname", "limit", "cursor"]

    @FUZZ
    @given(
        params=st.lists(st.tuples(st.sampled_from(names + ["bogus\x00"]), _odd_text), max_size=4),
        alert_id=st.one_of(
            st.sampled_from(["1", "0", "-1", "9" * 30, "1e3", "%00", "１"]), st.text(ANY_CHAR, min_size=1, max_size=5)
        ),
        ack_body=st.one_of(
            st.binary(max_size=200),
            st.builds(
                lambda d: json.dumps(d, allow_nan=True).encode("utf-8", "surrogatepass"),
                st.dictionaries(
                    st.sampled_from(["by", "comment", "x"]),
                    st.one_of(st.none(), st.integers(), st.floats(), _odd_text, st.lists(st.integers(), max_size=2)),
                    max_size=3,
                ),
            ),
            st.just(b"[" * 50_000),
        ),
        stats=st.lists(st.tuples(st.sampled_from(["since", "until", "x"]), _odd_text), max_size=2),
    )
    def run(params: list[tuple[str, str]], alert_id: str, ack_body: bytes,
            stats: list[tuple[str, str]]) -> None:
        qs = "&".join(f"{quote(k, safe='', errors='surrogatepass')}={quote(v, safe='', errors='surrogatepass')}"
                      for k, v in params)
        for path in (f"/api/alerts?{qs}", "/api/stats?" + "&".join(
                f"{k}={quote(v, safe='', errors='surrogatepass')}" for k, v in stats)):
            r = client.get(path, headers=HDR)
            assert r.status_code in (200, 400), (path[:200], r.status_code, r.get_data(as_text=True)[:300])
        ident = quote(alert_id, safe="", errors="surrogatepass")
        r = client.get(f"/api/alerts/{ident}", headers=HDR)
        assert r.status_code in (200, 400, 404), (alert_id, r.status_code)
        r = client.post(f"/api/alerts/{ident}/ack", data=ack_body, headers=HDR, content_type="application/json")
        assert r.status_code in (200, 400, 404), (
            alert_id,
            ack_body[:100],
            r.status_code,
            r.get_data(as_text=True)[:300],
        )

    run()
    # what was acknowledged with odd text reads back as stored text
    r = client.get("/api/alerts/1", headers=HDR)
    assert r.status_code == 200 and "\x00" not in json.dumps(r.get_json(), ensure_ascii=False)


@pytest.mark.parametrize(
    "starts", ["0001-01-01T00:00:00Z", "0999-12-31T23:59:59.5+00:00", "9999-12-31T23:59:59.999999Z"]
)
def test_extreme_start_times_are_stored_and_read_back(client: Any, starts: str) -> None:
    """Found by the fuzz test: SQLite wrote year 1 as "1-01-01..." and could not read it back."""
    doc = json.loads(json.dumps(SEEDS[0]))
    doc["alerts"][0]["startsAt"] = starts
    body = json.dumps(doc).encode()
    r = client.post("/webhook/alertmanager", data=body, headers=HDR, content_type="application/json")
    assert r.status_code == 200, r.get_data(as_text=True)
    _assert_stored(client, body)
    r = client.get("/api/alerts", headers=HDR)
    assert r.status_code == 200 and r.get_json()["alerts"][0]["starts_at"][:4] == starts[:4]
