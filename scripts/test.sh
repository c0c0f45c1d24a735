#!/usr/bin/env bash
# Sets up and runs the whole test suite: lint and types, the generated files, unit tests, then
# integration tests against real servers (in parallel workers: each test starts its own servers on
# free loopback ports). Extra arguments go to both pytest runs (e.g. -x, -k NAME).
# D76_TEST_WORKERS sets the integration workers (default 3; 0 runs them in this process).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/d76 generate --check
.venv/bin/python -m pytest -m unit "$@"
.venv/bin/python -m pytest -m integration -n "${D76_TEST_WORKERS:-3}" --dist loadfile "$@"
