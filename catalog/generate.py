"""The set of generated, committed files: write them, or report which are stale."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from .dashboards import render_dashboards
from .deploy_configs import render_deploy_configs
from .model import Catalog
from .render_alertmanager import render_channel_map
from .render_prometheus import render_rule_files
from .render_promtool_tests import render_promtool_tests
from .render_runbooks import render_runbooks

__all__ = ["GENERATORS", "generated_files", "write_generated", "check_generated", "GENERATED_DIRS", "write_files",
           "stale_files"]

Generator = Callable[[Catalog], dict[str, str]]


def _rules_and_tests(catalog: Catalog) -> dict[str, str]:
    """Rule files and the promtool tests that run against exactly those files."""
    rules = render_rule_files(catalog)
    files: dict[str, str] = {f"prometheus/rules/{n}": t for n, t in rules.items()}
    files.update({f"prometheus/tests/{n}": t for n, t in render_promtool_tests(catalog, rules).items()})
    return files


def _channel_map(catalog: Catalog) -> dict[str, str]:
    return {"webhook_receiver/notify/channel_map.yml": render_channel_map(catalog)}


# Every generator of the committed files, in the order they are written: each returns
# repo-relative path -> text.
GENERATORS: tuple[Generator, ...] = (
    _rules_and_tests,        # prometheus/rules, prometheus/tests
    _channel_map,            # the receiver's severity -> channels map (package data)
    render_runbooks,         # webhook_receiver/runbook_pages
    render_dashboards,       # grafana/dashboards, grafana/provisioning
    render_deploy_configs,   # prometheus.yml and alertmanager.yml of each deployment
)

# folders whose every file is generated: a file there that no generator produces is reported stale
GENERATED_DIRS = ("prometheus/rules", "prometheus/tests", "webhook_receiver/runbook_pages", "grafana/dashboards")


def generated_files(catalog: Catalog) -> dict[str, str]:
    """Repo-relative path -> text of every generated file."""
    files: dict[str, str] = {}
    for gen in GENERATORS:
        files.update(gen(catalog))
    return files


def _orphans(root: Path, files: dict[str, str]) -> list[str]:
    out = []
    for d in GENERATED_DIRS:
        folder = root / d
        if folder.is_dir():
            out += [p.relative_to(root).as_posix() for p in sorted(folder.iterdir())
                    if p.is_file() and p.relative_to(root).as_posix() not in files]
    return out


def write_files(root: Path, files: Mapping[str, str]) -> list[Path]:
    """Write repo-relative path -> text under `root` where the content differs; the paths written."""
    changed: list[Path] = []
    for rel, text in files.items():
        path = root / rel
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        changed.append(path)
    return changed


def stale_files(root: Path, files: Mapping[str, str]) -> list[str]:
    """Repo-relative paths of `files` that are missing under `root` or differ from their text."""
    return [rel for rel, text in files.items()
            if not (root / rel).is_file() or (root / rel).read_text(encoding="utf-8") != text]


def write_generated(catalog: Catalog, root: Path) -> list[Path]:
    """Write every generated file under `root`; remove files in generated folders nobody produces.
    Returns the paths whose content changed."""
    files = generated_files(catalog)
    changed = write_files(root, files)
    for rel in _orphans(root, files):
        (root / rel).unlink()
        changed.append(root / rel)
    return changed


def check_generated(catalog: Catalog, root: Path) -> list[str]:
    """Repo-relative paths that are missing, different from what the catalog renders, or orphaned."""
    files = generated_files(catalog)
    return sorted(stale_files(root, files) + _orphans(root, files))
