"""Status of the HA shape's PostgreSQL: each Patroni member's role, and the summary line."""
from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from local_stack.probes import patroni_role, probe_patroni
from local_stack.status import PieceStatus, status_lines

PRIMARY = {"state": "running", "role": "master", "timeline": 2,
           "replication": [{"application_name": "postgres-a", "state": "streaming", "sync_state": "sync"}]}
STANDBY = {"state": "running", "role": "replica", "sync_standby": True, "timeline": 2}


@pytest.mark.parametrize("state,role", [(PRIMARY, "primary"), ({"role": "primary"}, "primary"),
                                        (STANDBY, "sync standby"), ({"role": "replica"}, "replica"), ({}, "unknown")])
def test_patroni_role_in_words(state, role):
    assert patroni_role(state) == role


@pytest.fixture
def patroni_api():
    answers: dict[str, object] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server name
            body = json.dumps(answers.get(self.path, {})).encode()
            self.send_response(200 if self.path in answers else 503)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", answers
    server.shutdown()


def test_a_member_says_its_role_timeline_and_whom_it_streams_to(patroni_api):
    url, answers = patroni_api
    answers["/patroni"] = PRIMARY
    probe = probe_patroni(url)
    assert probe.healthy
    assert probe.detail == f"primary, running, timeline 2, streaming to postgres-a (sync, streaming); patroni {url}"
    answers["/patroni"] = {**STANDBY, "state": "starting"}
    probe = probe_patroni(url)
    assert not probe.healthy and probe.detail.startswith("sync standby, starting, timeline 2")


def test_a_member_whose_patroni_is_gone_is_not_healthy():
    probe = probe_patroni("http://127.0.0.1:9")
    assert not probe.healthy and probe.detail.startswith("patroni not answering")


def test_status_names_the_primary_or_says_there_is_none():
    members = [PieceStatus("postgres-a", "postgresql://127.0.0.1:1", 1, True, True, "sync standby, running"),
               PieceStatus("postgres-b", "postgresql://127.0.0.1:2", 2, True, True, "primary, running, timeline 2")]
    lines = list(status_lines(members, ha=True, database="postgresql://postgres@127.0.0.1:1,127.0.0.1:2/d76"))
    assert lines[1].startswith("PostgreSQL: Patroni cluster of 2 members, primary postgres-b;")
    members[1] = PieceStatus("postgres-b", "postgresql://127.0.0.1:2", 2, False, False, "not running")
    lines = list(status_lines(members, ha=True, database=None))
    assert "primary none (failing over?)" in lines[1]
