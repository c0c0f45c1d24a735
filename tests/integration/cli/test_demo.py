"""The README's first command ends in `d76 demo`: it must run the whole pipeline and finish by itself."""
from __future__ import annotations

import re
import subprocess
import sys

from tests.support import paths

REPO = paths.REPO


def test_demo_walks_through_incidents_and_stops_the_stack(tmp_path):
    state = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "d76_cli.main", "demo", "--state-dir", str(state), "--free-ports",
                        "--timeout", "120"], capture_output=True, text=True, cwd=REPO, timeout=400,
                       env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "COLUMNS": "200", "HOME": str(tmp_path)})
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    # each incident reached Telegram (dry run prints it), the ack and the resolves too
    # (told alone in full, or packed with the alerts that fired with it: then its line names it)
    for text in ("HTTP 429 from upbit (order)", "upbit is FROZEN", "Total daily loss over 50,000 USD"):
        assert text in out, text
    assert "demo-operator" in out
    # the dry run shows what the phone would: the buttons under each message and the links' targets (and
    # the edits: who acknowledged); the pages' URL is printed
    assert "buttons: [✅ Ack] [🔕 Silence 1h] [🔕 Silence 24h]" in out
    assert re.search(r"📖 Runbook \(http://127\.0\.0\.1:\d+/runbooks/[a-z0-9-]+\)", out)
    assert re.search(r"Acked by demo-operator at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", out)
    assert re.search(r"pages +http://127\.0\.0\.1:\d+/alerts \(sign in once with the token in ", out)
    # resolves edit their message: a single one reads "RESOLVED [P0] ...", a packed one (two P0s that
    # fired within one slot, e.g. the global loss and the global BLOCK) lists "Resolved [P0] name"
    assert out.count("RESOLVED") + out.count("✅ Resolved [") >= 3
    assert "[telegram dry-run] message 1" in out  # printed as text, not eaten as console markup
    assert "firing✓" in out and "resolved✓" in out
    assert "stack stopped" in out
    # the operator's /status from the phone is answered (through the outbox, printed in the dry run)
    assert "Pipeline status" in out and "Prometheus: ready" in out and "Firing:" in out
    # graphs followed the P0/P1 pages: PNG files next to the demo's state, their paths printed
    from tests.support.fakes.telegram import check_png

    pngs = sorted((state / "graphs").glob("*.png"))
    assert pngs and all(check_png(p.read_bytes()) for p in pngs)
    assert "[telegram dry-run] photo" in out and str(pngs[0]) in out
    # nothing left running: every recorded pid is gone
    assert not (state / "stack.json").exists()
