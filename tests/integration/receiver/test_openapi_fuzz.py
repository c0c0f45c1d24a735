"""The receiver's /openapi.json checked against the running receiver (`d76 receiver` under waitress,
SQLite) by schemathesis: every operation gets valid and malformed input (negative mode: values
outside their type, range or enum, missing required parts); none may get a 5xx, and malformed input
must get a 4xx. Examples per operation are few and the seed fixed, to keep this under a minute."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, not_a_server_error

from tests.conftest import start_receiver

TOKEN = "openapi-fuzz-token"
SECRET = "openapi-fuzz-telegram-secret"
EXAMPLES = 25


@pytest.fixture(scope="module")
def receiver(tmp_path_factory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("openapi")
    env = {"DATABASE_URL": f"sqlite:///{tmp / 'h.db'}", "RECEIVER_TOKEN": TOKEN,
           "NOTIFICATIONS_ENABLED": "true", "TELEGRAM_POLLING": "false", "TELEGRAM_WEBHOOK_SECRET": SECRET,
           "DEADMAN_ENABLED": "false", "HISTORY_PRUNE": "false"}
    proc, url = start_receiver(tmp / "receiver.log", env, threads=4, unset=(
        "TELEGRAM_BOT_TOKEN", "ALERTMANAGER_URL", "SMTP_HOST", "SLACK_WEBHOOK_URL", "DISCORD_WEBHOOK_URL"))
    try:
        yield url
    finally:
        proc.stop()


def _operations(receiver: str) -> list:  # type: ignore[type-arg]
    schema = schemathesis.openapi.from_url(f"{receiver}/openapi.json")
    schema.config.update(base_url=receiver, request_timeout=10)
    return [r.ok() for r in schema.get_all_operations()]


# the API token only: the Telegram secret header is a described parameter, generated like the others
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_input_gets_a_server_error(receiver: str, mode: GenerationMode) -> None:
    """Hypothesis drives each operation's strategy (the schemathesis pytest plugin does the same;
    called directly here so the test does not depend on pytest internals)."""
    operations = _operations(receiver)
    assert len(operations) == 24  # every route of the API (tests/unit/receiver/test_openapi.py: routes = description)
    checks = [not_a_server_error] + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])
    session = requests.Session()
    tested = 0
    for op in operations:
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, print_blob=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy(generation_mode=mode))
        def run(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(session=session, headers=HEADERS, checks=checks)

        try:
            run()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing in it can be malformed (no parameter, no body)
            continue
        except Exception as exc:
            raise AssertionError(f"{op.label} ({mode.value}): {exc}") from exc
        tested += 1
    # negative: every operation with a parameter or body but the /alerts pages (any string is a valid page
    # id: those answer 404/400 pages) and the root (no parameter); /runbooks/{slug} has its `alert`; the
    # pages' action forms count (their body can be malformed)
    assert tested == (24 if mode is GenerationMode.POSITIVE else 15), tested
