"""`stack.json`: written by `up`, read back by `status`, `down` and the other `d76` commands."""
from __future__ import annotations

import json

from local_stack.config import StackConfig
from local_stack.manifest import Piece, load_pieces, piece_kind, read_manifest, write_manifest


def test_pieces_round_trip_and_the_database_is_masked(tmp_path):
    pieces = [Piece("receiver-a", "http://127.0.0.1:1", "http://127.0.0.1:1/readyz", 42, "r.log", kind="receiver"),
              Piece("target-1", "http://bot:9876", "http://bot:9876/metrics", None, "", kind="target")]
    write_manifest(tmp_path, config=StackConfig(ha=True, targets=("bot:9876",)), pieces=pieces,
                   database_url="postgresql://u:secret@db/d76", postgres_dir=None, catalog=None)
    m = read_manifest(tmp_path)
    assert m["ha"] is True and m["backend"] == "postgresql" and m["database"] == "postgresql://u:***@db/d76"
    assert m["targets"] == ["bot:9876"] and m["simulator"] is False
    assert load_pieces(m) == pieces
    assert "secret" not in (tmp_path / "stack.json").read_text()


def test_a_missing_or_broken_manifest_records_nothing(tmp_path):
    assert read_manifest(tmp_path) == {}
    (tmp_path / "stack.json").write_text("[1, 2]")
    assert read_manifest(tmp_path) == {} and load_pieces(read_manifest(tmp_path)) == []
    (tmp_path / "stack.json").write_text("{not json")
    assert read_manifest(tmp_path) == {}


def test_an_older_manifest_without_kinds_is_read_by_name():
    assert piece_kind({"name": "alertmanager-b"}) == "alertmanager"
    assert piece_kind({"name": "x", "kind": "receiver"}) == "receiver"
    assert load_pieces(json.loads('{"pieces": [{"name": "prometheus", "url": "u", "health_url": "h", '
                                  '"pid": 1, "log": "l", "unknown": 3}]}'))[0].kind == "prometheus"


def test_patroni_members_are_recorded_with_their_pid_url_and_rest_api(tmp_path):
    member = Piece("postgres-a", "postgresql://127.0.0.1:55432", "http://127.0.0.1:8108/health", 7, "a.log",
                   kind="postgres", api_url="http://127.0.0.1:8108")
    url = "postgresql://postgres@127.0.0.1:55432,127.0.0.1:55433/d76?target_session_attrs=read-write"
    write_manifest(tmp_path, config=StackConfig(ha=True), pieces=[member], database_url=url, postgres_dir=None,
                   catalog=None, patroni_dir=tmp_path / "patroni")
    m = read_manifest(tmp_path)
    assert load_pieces(m) == [member] and m["patroni_dir"] == str(tmp_path / "patroni")
    assert m["backend"] == "postgresql" and m["database"] == url
