"""The house by purpose: which top-level package may import which.

    exporter          the bot's library: imports none of the others (only `vocabulary`)
    simulator         a simulated bot: imports `exporter`
    catalog           the catalog and every generator: may read `exporter`'s metric names and the
                      receiver's channel registry, never the local stack, the CLI or the simulator
    webhook_receiver  never imports the catalog, the simulator, the local stack or the CLI
    local_stack       may import the catalog and the receiver's settings; d76_cli sits on top

Imports by string (`importlib.import_module("...")`, "module:function" registries) count too: a
cycle hidden behind a string is still a cycle. (Starting the CLI as a process, `python -m d76_cli.main`,
is not an import.)
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.support import paths

REPO = paths.REPO
PACKAGES = ("vocabulary", "exporter", "simulator", "catalog", "webhook_receiver", "local_stack", "d76_cli")
FORBIDDEN = {
    "vocabulary": set(PACKAGES) - {"vocabulary"},
    "exporter": {"simulator", "catalog", "webhook_receiver", "local_stack", "d76_cli"},
    "simulator": {"catalog", "webhook_receiver", "local_stack", "d76_cli"},
    "catalog": {"simulator", "local_stack", "d76_cli"},
    "webhook_receiver": {"catalog", "simulator", "local_stack", "d76_cli", "exporter"},
    "local_stack": {"d76_cli"},
}
_LAZY_REF = re.compile(r"^(%s)(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$" % "|".join(PACKAGES))  # "module:function"


def _sources(package: str) -> list[Path]:
    single = REPO / f"{package}.py"
    return [single] if single.is_file() else sorted((REPO / package).rglob("*.py"))


def _imported(path: Path) -> set[str]:
    """Top-level packages `path` imports, by statement or by a dotted string naming a module."""
    names: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _LAZY_REF.match(node.value):
            names.add(node.value.split(".")[0].split(":")[0])
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
              and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names.add(node.args[0].value.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    offenders = {str(p.relative_to(REPO)): sorted(_imported(p) & FORBIDDEN[package]) for p in _sources(package)}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_exporter_holds_only_the_bots_library() -> None:
    assert not (REPO / "exporter" / "catalog").exists() and not (REPO / "exporter" / "dashboards").exists()
    assert not list((REPO / "exporter").glob("simulator*.py")) and not (REPO / "exporter" / "scenarios.py").exists()
    assert (REPO / "catalog" / "__init__.py").is_file() and (REPO / "simulator" / "__init__.py").is_file()


def test_the_severity_tuple_is_written_once() -> None:
    """Every production module reads the severities from `vocabulary`."""
    literal = re.compile(
        r"""\(\s*["']P0["'],\s*["']P1["'],\s*["']P2["'],\s*["']P3["']\s*\)|\[\s*["']P0["'],\s*["']P1["'],\s*["']P2["'],\s*["']P3["']\s*\]"""
    )
    writers = [str(p.relative_to(REPO)) for pkg in PACKAGES for p in _sources(pkg)
               if literal.search(p.read_text(encoding="utf-8"))]
    assert writers == ["vocabulary.py"]
