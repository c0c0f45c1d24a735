#!/usr/bin/env bash
# Sets up and runs the demo: the whole stack on loopback with the simulator, alerts arriving.
# Each dry-run Telegram message is printed with its buttons and the targets of its links; the
# receiver's pages (what those links open) are printed at the start, with the token file to sign in.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/d76 demo "$@"
