#!/usr/bin/env bash
# Sets up and runs the demo: the whole stack on loopback with the simulator, alerts arriving.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/d76 demo "$@"
