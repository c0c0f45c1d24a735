"""docs/contract.md: its tables are what the code says, and `d76 generate --check` notices when not."""
from __future__ import annotations

import re
import shutil

import pytest
from click.testing import CliRunner

import vocabulary
from catalog import load_catalog
from d76_cli import contract_doc
from d76_cli.generate import command as generate
from exporter.metrics import CONTRACT_METRICS
from tests.support import paths
from webhook_receiver.openapi import spec

REPO = paths.REPO


def test_the_committed_contract_is_current():
    assert contract_doc.check_contract(REPO) == [], "run `d76 generate`"


def test_it_says_it_is_generated_and_keeps_its_markers():
    text = (REPO / contract_doc.OUTPUT).read_text()
    first = text.splitlines()[0]
    assert "generated" in first and "do not edit" in first and contract_doc.TEMPLATE in first
    for name in [*contract_doc.TABLES, "settings"]:
        assert f"<!-- {name}: begin -->" in text and f"<!-- {name}: end -->" in text, name


def _rows(text: str, block: str) -> list[str]:
    body = text.split(f"<!-- {block}: begin -->")[1].split(f"<!-- {block}: end -->")[0]
    return [line for line in body.splitlines() if line.startswith("| ")][1:]


def test_the_tables_name_everything_the_code_has():
    text = (REPO / contract_doc.OUTPUT).read_text()
    metrics = [row.split("`")[1] for row in _rows(text, "metrics")]
    assert metrics == list(CONTRACT_METRICS)
    alerts = [row.split("`")[1] for row in _rows(text, "thresholds")]
    assert alerts == [a.name for a in load_catalog().alerts]
    api = {(row.split(" | ")[0].strip("| "), row.split("`")[1]) for row in _rows(text, "api")}
    assert api == {(m.upper(), p) for p, ops in spec()["paths"].items() for m in ops}
    labels = " ".join(_rows(text, "labels"))
    for word in [*vocabulary.SEVERITIES, *vocabulary.SOURCES, *vocabulary.IDENTIFYING_LABELS]:
        assert f"`{word}`" in labels, word


def test_a_hand_written_block_is_copied_and_a_generated_one_filled():
    template = "# t\n<!-- api: begin -->\nold\n<!-- api: end -->\n<!-- notes: begin -->\nby hand\n<!-- notes: end -->\n"
    out = contract_doc.render_contract(template, {"api": lambda: "| new |\n"})
    assert out.startswith(contract_doc.HEADER)
    assert "<!-- api: begin -->\n| new |\n<!-- api: end -->" in out and "old" not in out
    assert "<!-- notes: begin -->\nby hand\n<!-- notes: end -->" in out


def test_a_table_without_its_block_in_the_template_is_an_error():
    with pytest.raises(ValueError, match="no block for the generated table"):
        contract_doc.render_contract("# nothing\n", {"api": lambda: ""})


def test_cells_stay_on_one_line_and_pipes_are_escaped():
    assert contract_doc._cell("a |\n b") == "a \\| b"
    table = contract_doc.thresholds_table()
    assert all(line.startswith("|") for line in table.splitlines())
    assert re.search(r'RiskGuardExchangeBlock\\\|RiskGuardExchangeCooldown', contract_doc.inhibitions_table())


def test_generate_check_reports_an_edited_contract(tmp_path):
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    shutil.copy(REPO / contract_doc.OUTPUT, root / contract_doc.OUTPUT)
    assert contract_doc.check_contract(root) == []
    doc = root / contract_doc.OUTPUT
    doc.write_text(doc.read_text().replace("| `d75_route_score` | gauge |", "| `d75_route_score` | counter |"))
    assert contract_doc.check_contract(root) == [contract_doc.OUTPUT]
    r = CliRunner().invoke(generate, ["--check", "--root", str(root)])
    assert r.exit_code == 1 and contract_doc.OUTPUT in r.output
    assert contract_doc.write_contract(root) == [doc] and contract_doc.check_contract(root) == []
