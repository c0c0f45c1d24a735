"""`GET /runbooks/<slug>`: the generated runbook pages, so an alert's runbook_url works out of the box.

The catalog's default `runbook_base_url` points here (http://127.0.0.1:9099/runbooks/); operators
with a wiki set `policy.runbook_base_url` in the catalog override file instead. Pages are served as
plain UTF-8 text (they are markdown written to be read raw). Not behind the token: they hold no data.
The pages are package data (`webhook_receiver/runbook_pages/`, found through importlib.resources, so an
installed wheel serves them); `RUNBOOKS_DIR` points elsewhere (pages regenerated with overrides).
"""
from __future__ import annotations

import re
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app

__all__ = ["bp", "runbooks_dir"]

bp = Blueprint("runbooks", __name__)
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,100}")
PACKAGED = "runbook_pages"


def runbooks_dir() -> Path | Traversable:
    configured = current_app.config.get("D76_RUNBOOKS_DIR")
    return Path(configured) if configured else resources.files(__package__).joinpath(PACKAGED)


def _page(path: Path | Traversable) -> Response:
    if not path.is_file():
        abort(404, description="no such runbook")
    return Response(path.read_text(encoding="utf-8"), mimetype="text/plain; charset=utf-8")


@bp.get("/runbooks/")
def index() -> Any:
    return _page(runbooks_dir() / "README.md")


@bp.get("/runbooks/<slug>")
def page(slug: str) -> Any:
    slug = slug.removesuffix(".md")
    if not _SLUG.fullmatch(slug):
        abort(404, description="no such runbook")
    return _page(runbooks_dir() / f"{slug}.md")
