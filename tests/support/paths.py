"""Where things are, for every test: the repository and its recorded Alertmanager bodies."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
AM_FIXTURES = FIXTURES / "alertmanager-0.25"   # real Alertmanager 0.25 webhook bodies and headers
