"""`GET /runbooks/<slug>`: the generated runbook pages, so an alert's runbook_url works out of the box.

The catalog's default `runbook_base_url` points here (http://127.0.0.1:9099/runbooks/); operators
with a wiki set `policy.runbook_base_url` in the catalog override file instead. The pages are
Markdown (`webhook_receiver/runbook_pages/`, package data found through importlib.resources, so an
installed wheel serves them; `RUNBOOKS_DIR` points elsewhere, e.g. pages regenerated with
overrides), served as HTML (markdown-it-py, raw HTML in the Markdown refused, so a page is text
and links only) in the pages' layout, without the generator's comment. `/runbooks/<slug>.md` is the
Markdown itself (`text/markdown`).

A runbook writes an alert's label values as placeholders (`exchange=<exchange>`). Opened from an
alert's page (`/runbooks/<slug>?alert=<id>`) by someone the pages let in, the placeholders are the
alert's values: the `d76 silence create` line is the command to type. Otherwise the page is the
generic one and needs no sign-in: it holds no data.

`first_checks(slug)` is the runbook's "First checks" list, which the alert page shows itself.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from functools import lru_cache
from html import escape
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, request
from markdown_it import MarkdownIt
from markupsafe import Markup

from .screens import allowed, html_page
from .state import runtime

__all__ = ["bp", "runbooks_dir", "read_runbook", "render_markdown", "first_checks", "slug_of", "PACKAGED"]

bp = Blueprint("runbooks", __name__)
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,100}")
PACKAGED = "runbook_pages"
_COMMENT = re.compile(r"\A\s*<!--.*?-->\s*", re.S)
_LOCAL_MD_LINK = re.compile(r'href="([a-z0-9][a-z0-9-]{0,100})\.md"')
_PLACEHOLDER = "&lt;{}&gt;"
HISTORY_ID = "history id"  # the placeholder `<history id>` of `d76 silence create --alert`


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def runbooks_dir() -> Path | Traversable:
    configured = current_app.config.get("D76_RUNBOOKS_DIR")
    return Path(configured) if configured else resources.files(__package__).joinpath(PACKAGED)


def read_runbook(slug: str) -> str | None:
    """The runbook's Markdown without the generator's comment, or None when there is none."""
    if slug != "README" and not _SLUG.fullmatch(slug):
        return None
    path = runbooks_dir() / f"{slug}.md"
    if not path.is_file():
        return None
    return _COMMENT.sub("", path.read_text(encoding="utf-8"), count=1)


def render_markdown(text: str, values: Mapping[str, str] | None = None) -> Markup:
    """Markdown -> HTML (no raw HTML passes); links to sibling `.md` pages point at their HTML page;
    `<label>` placeholders become `values[label]` (escaped; shell-quoted where a shell would need it)."""
    out = _LOCAL_MD_LINK.sub(r'href="\1"', _markdown().render(text))
    for name, value in (values or {}).items():
        out = out.replace(_PLACEHOLDER.format(escape(name)), escape(shlex.quote(str(value))))
    return Markup(out)  # noqa: S704 - markdown-it escaped every text; the values are escaped above


def _section(text: str, heading: str) -> str | None:
    lines = text.splitlines()
    try:
        start = lines.index(f"## {heading}") + 1
    except ValueError:
        return None
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    body = "\n".join(lines[start:end]).strip()
    return body or None


def first_checks(slug: str | None, values: Mapping[str, str] | None = None) -> Markup | None:
    """The runbook's "First checks" (HTML), or None when the runbook or the section is missing."""
    text = read_runbook(slug) if slug else None
    section = _section(text, "First checks") if text else None
    return render_markdown(section, values) if section else None


def slug_of(runbook_url: str | None) -> str | None:
    """The slug of a runbook this receiver serves, from an alert's runbook_url (`.../runbooks/<slug>`)."""
    if not runbook_url:
        return None
    path = urlsplit(str(runbook_url)).path.rstrip("/")
    head, _, last = path.rpartition("/")
    slug = last.removesuffix(".md")
    if not head.endswith("/runbooks") or not _SLUG.fullmatch(slug):
        return None
    return slug if read_runbook(slug) is not None else None


def _markdown_answer(text: str) -> Response:
    resp = Response(text, status=200)
    resp.headers["Content-Type"] = "text/markdown; charset=utf-8"  # one charset (not the mimetype's default)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def _alert_values(alert_id: str | None) -> tuple[dict[str, str], dict[str, Any] | None]:
    """The labels of the alert the page was opened from (when the pages let this request in)."""
    if not alert_id or not alert_id.isdigit() or len(alert_id) > 18 or not allowed():
        return {}, None
    alert = runtime().store.get_alert(int(alert_id))
    if alert is None:
        return {}, None
    values = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
    values[HISTORY_ID] = str(alert["id"])
    return values, alert


@bp.get("/runbooks/")
def index() -> Any:
    text = read_runbook("README")
    if text is None:
        abort(404, description="no such runbook")
    return html_page("runbook.html", title="Runbooks", body=render_markdown(text), home="../alerts", alert=None)


@bp.get("/runbooks/<slug>")
def page(slug: str) -> Any:
    raw = slug.endswith(".md")
    slug = slug.removesuffix(".md")
    text = read_runbook(slug) if _SLUG.fullmatch(slug) else None
    if text is None:
        abort(404, description="no such runbook")
    if raw:
        return _markdown_answer(text)
    values, alert = _alert_values(request.args.get("alert"))
    title = text.splitlines()[0].lstrip("# ").strip() if text.startswith("# ") else slug
    return html_page("runbook.html", title=f"Runbook {title}", body=render_markdown(text, values), home="../alerts",
                     alert=alert)
