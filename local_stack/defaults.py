"""Where `d76 stack up` keeps its state, so the other commands can find the stack.

The default ports and host are in `vocabulary` (shared with the generated configs and the command
line); the timings of Prometheus and Alertmanager in `catalog.deploy_configs`.
"""
from __future__ import annotations

from pathlib import Path

# The state folder of `d76 stack up`: what the other commands read to find the stack
# (d76_cli.stack_client). The manifest holds no secrets; the two secret files are 0600.
DEFAULT_STATE_DIR = Path(".d76") / "stack"
STATE_MANIFEST = "stack.json"                                # pieces, urls, pids, targets, redacted database
STATE_TOKEN_FILE = Path("alertmanager") / "receiver_token"   # the receiver's bearer token
STATE_DATABASE_URL_FILE = "database_url"                     # the receiver's DATABASE_URL (may hold a password)
