"""The strictness audit (:mod:`asgi_spark.simulator.strictness`) is the one source of truth.

The README table, the ``--help`` list of lenient points and the tests named by each rule are
all checked against it, so none of them can drift.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

from asgi_spark.cli import main
from asgi_spark.simulator.strictness import (
    RULES,
    Rule,
    lenient_lines,
    lenient_rules,
    markdown_table,
)

README = Path(__file__).resolve().parents[2] / "README.md"
_TEST_REF = re.compile(r"(test_\w+)::(test_\w+)(?:\[([^\]]+)\])?")


def _readme_section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n### {title}\n")
    end = text.find("\n## ", start)
    return text[start : end if end != -1 else len(text)]


def test_rule_ids_are_unique_and_cells_are_markdown_safe() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        for cell in (rule.id, rule.section, rule.rule, rule.answer, *rule.tests):
            assert "|" not in cell and "\n" not in cell and "<" not in cell, (rule.id, cell)


def test_every_enforced_rule_names_a_test() -> None:
    assert [rule.id for rule in RULES if rule.status == "yes" and not rule.tests] == []


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_named_tests_exist(rule: Rule) -> None:
    for reference in rule.tests:
        match = _TEST_REF.fullmatch(reference)
        assert match, reference
        module_name, function_name, param_id = match.groups()
        module = importlib.import_module(f"tests.simulator.{module_name}")
        assert callable(getattr(module, function_name, None)), reference
        if param_id is not None:  # the id is written out in the module (ids=[...] or a table)
            assert f'"{param_id}"' in inspect.getsource(module), reference


def test_readme_table_is_the_rules() -> None:
    """Regenerate with ``python -m asgi_spark.simulator.strictness`` after changing a rule."""
    section = _readme_section("How strict the simulator is")
    assert markdown_table() in section
    text = README.read_text(encoding="utf-8")
    assert text.index("### Reproducing upstream failures") < text.index(
        "### How strict the simulator is"
    )


def test_help_lists_every_lenient_point(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["simulator", "--help"])
    text = capsys.readouterr().out
    listed = text.split("deliberately lenient", 1)[1].split("\n\n", 1)[0]
    assert listed.strip().splitlines()[1:] == [line.rstrip() for line in lenient_lines()]
    assert [line.split()[0] for line in lenient_lines()] == [r.id for r in lenient_rules()]
    assert all(len(line) <= 96 for line in lenient_lines())
