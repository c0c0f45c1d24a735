#!/usr/bin/env bash
# Sets up and runs the whole test suite: unit tests, then integration tests against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/d76 generate --check
.venv/bin/python -m pytest -m unit "$@"
.venv/bin/python -m pytest -m integration "$@"
