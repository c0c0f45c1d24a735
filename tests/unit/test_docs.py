"""The documentation stands on its own: its relative links and anchors resolve, nothing points
outside the repository, and every receiver setting of the contract is explained in configuration.md."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support import paths

REPO = paths.REPO
DOCS = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.MULTILINE)


def _prose(text: str) -> str:
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in _HEADING.findall(_FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def test_slugs_are_githubs():
    assert slug("The `d76` command") == "the-d76-command"
    assert slug("History: reconciled, complete, bounded") == "history-reconciled-complete-bounded"
    assert slug("5. Webhook receiver HTTP API") == "5-webhook-receiver-http-api"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_resolves(doc):
    assert doc.is_file()
    broken = []
    for target in _LINK.findall(_prose(doc.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z]+:", target):  # http(s), mailto: not ours to check
            continue
        rel, _, anchor = target.partition("#")
        dest = (doc.parent / rel).resolve() if rel else doc
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            broken.append(f"{target}: no heading #{anchor} in {dest.name}")
    assert not broken, f"{doc.name}: " + "; ".join(broken)


def test_no_file_points_at_a_sibling_folder_of_the_repository():
    sibling = "../" + "shared"  # written in two parts so this file does not name it
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True,
                           text=True).stdout.split("\0")
    naming = []
    for rel in filter(None, files):
        path = REPO / rel
        try:
            if sibling in path.read_text(encoding="utf-8"):
                naming.append(rel)
        except (OSError, UnicodeDecodeError):
            continue
    assert not naming


def test_configuration_explains_every_setting_of_the_contract():
    contract = (REPO / "docs/contract.md").read_text(encoding="utf-8")
    block = contract.split("<!-- settings: begin -->")[1].split("<!-- settings: end -->")[0]
    names = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", block))
    assert len(names) > 40
    configuration = (REPO / "docs/configuration.md").read_text(encoding="utf-8")
    assert sorted(n for n in names if n not in configuration) == []
