"""promtool on the rules and tests the catalog renders (`d76 generate --check`), its findings named by key.

An override file can carry PromQL and Go templates of the operator's own (`expr`, `summary`,
`description`, `action`): Python does not parse them, promtool does. `promtool_problems` renders the
rule files and their generated unit tests into a temporary folder and runs `promtool check rules` and
`promtool test rules` on them; each finding about an alert becomes a line naming the override file's
key (`alerts.VarLimitBreached.expr: promtool: could not parse expression: ...`), so a typo in a metric
name (its test does not fire) or in a template is reported like any other override error.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .model import Catalog
from .render_prometheus import render_rule_files
from .render_promtool_tests import render_promtool_tests

__all__ = ["promtool_problems", "find_promtool"]

_RULE = re.compile(r'rule \d+, "(?P<name>[^"]+)": (?:annotation "(?P<annotation>[^"]+)": )?(?P<msg>.*)$')
_TEST_NAME = re.compile(r"^\s*name: (?P<name>[A-Za-z][A-Za-z0-9_]*): (?P<what>.*?),?\s*$")
_ALERT_CHECK = re.compile(r"^\s*alertname: (?P<name>[A-Za-z][A-Za-z0-9_]*), time: (?P<time>[^,]+),")
_EXPR_CHECK = re.compile(r'^\s*expr: .*ALERTS\{alertname=\\"(?P<name>[A-Za-z][A-Za-z0-9_]*)\\".*'
                         r", time: (?P<time>[^,]+),")
TIMEOUT_S = 300


def find_promtool() -> str | None:
    return shutil.which("promtool")


def _where(catalog: Catalog, name: str) -> str:
    prefix = f"{catalog.override_file}: " if catalog.override_file else ""
    return f"{prefix}alerts.{name}"


def _check_rules(catalog: Catalog, promtool: str, rules: list[Path]) -> list[str]:
    r = subprocess.run([promtool, "check", "rules", *map(str, rules)], capture_output=True, text=True,
                       timeout=TIMEOUT_S)
    if r.returncode == 0:
        return []
    out = []
    for line in (r.stdout + r.stderr).splitlines():
        m = _RULE.search(line)
        if m:
            key = "expr" if "expression" in m.group("msg") else m.group("annotation") or "expr"
            out.append(f"{_where(catalog, m.group('name'))}.{key}: promtool: {m.group('msg')}")
        elif line.strip() and not line.startswith(("Checking", "  SUCCESS", "  FAILED")):
            out.append(f"promtool check rules: {line.strip()}")
    return out or [f"promtool check rules failed: {(r.stdout + r.stderr).strip()[:2000]}"]


def _test_rules(catalog: Catalog, promtool: str, tests: list[Path]) -> list[str]:
    r = subprocess.run([promtool, "test", "rules", *(t.name for t in tests)], capture_output=True, text=True,
                       cwd=tests[0].parent, timeout=TIMEOUT_S)
    if r.returncode == 0:
        return []
    out = []
    lines = (r.stdout + r.stderr).splitlines()
    test = ""
    for n, line in enumerate(lines):
        named = _TEST_NAME.match(line)
        if named:
            test = f" '{named.group('what')}'"
            continue
        m = _ALERT_CHECK.match(line) or _EXPR_CHECK.match(line)
        if m:
            detail = " ".join(x.strip() for x in lines[n + 1:n + 5] if x.strip().startswith(("exp:", "got:")))
            what = "did not see it fire with its labels" if m.re is _EXPR_CHECK else "failed"
            out.append(f"{_where(catalog, m.group('name'))}: promtool: its generated test{test} {what} at "
                       f"{m.group('time')} ({' '.join(detail.split())[:300]})")
            test = ""
    return out or [f"promtool test rules failed: {(r.stdout + r.stderr).strip()[:2000]}"]


def promtool_problems(catalog: Catalog, promtool: str | None = None) -> list[str] | None:
    """promtool's findings on the catalog's rule files and generated tests, one line each naming the
    alert's key; None when promtool is not installed."""
    promtool = promtool or find_promtool()
    if promtool is None:
        return None
    rules = render_rule_files(catalog)
    tests = render_promtool_tests(catalog, rules)
    with tempfile.TemporaryDirectory(prefix="d76-promtool-") as tmp:
        root = Path(tmp) / "prometheus"
        (root / "rules").mkdir(parents=True)
        (root / "tests").mkdir()
        rule_paths, test_paths = [], []
        for name, text in rules.items():
            rule_paths.append(root / "rules" / name)
            rule_paths[-1].write_text(text, encoding="utf-8")
        for name, text in tests.items():
            test_paths.append(root / "tests" / name)
            test_paths[-1].write_text(text, encoding="utf-8")
        problems = _check_rules(catalog, promtool, rule_paths)
        if problems:       # the tests cannot load broken rule files: their failures would only repeat these
            return problems
        return _test_rules(catalog, promtool, test_paths)
