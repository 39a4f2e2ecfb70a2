"""Every scenario test asserts something, itself or through a helper that does.

A test function with no `assert` passes whatever the roles do; this guard fails when one
appears in molecule/*/tests. A helper counts when it asserts (directly or through another
helper, in the test's module or in molecule/shared/lgtm_molecule.py), as do pytest.raises,
pytest.fail and methods named assert_* (e.g. a run result's assert_ok).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / "molecule" / "shared" / "lgtm_molecule.py"
TEST_FILES = sorted((REPO / "molecule").glob("*/tests/test_*.py"))


def called_names(node: ast.AST) -> set[str]:
    names: set[str] = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            if isinstance(call.func, ast.Name):
                names.add(call.func.id)
            elif isinstance(call.func, ast.Attribute):
                names.add(call.func.attr)
    return names


def asserts_directly(node: ast.AST) -> bool:
    if any(isinstance(child, ast.Assert) for child in ast.walk(node)):
        return True
    called = called_names(node)
    return bool({"raises", "fail"} & called) or any(name.startswith("assert") for name in called)


def asserting_functions(*trees: ast.Module) -> set[str]:
    """Names of the functions that assert, directly or by calling one that does."""
    functions = {node.name: node for tree in trees for node in ast.walk(tree)
                 if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    found = {name for name, node in functions.items() if asserts_directly(node)}
    while True:
        more = {name for name, node in functions.items()
                if name not in found and called_names(node) & found}
        if not more:
            return found
        found |= more


def test_scenarios_have_tests() -> None:
    assert len(TEST_FILES) >= 10


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda path: str(path.relative_to(REPO)))
def test_every_scenario_test_asserts(path: Path) -> None:
    tree = ast.parse(path.read_text())
    asserting = asserting_functions(tree, ast.parse(SHARED.read_text()))
    empty = [node.name for node in tree.body
             if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
             and node.name not in asserting]
    assert not empty, f"{path.relative_to(REPO)}: tests that assert nothing: {empty}"


def test_the_guard_finds_an_empty_test() -> None:
    tree = ast.parse("def helper():\n    return 1\n\n"
                     "def check(x):\n    assert x\n\n"
                     "def test_empty():\n    helper()\n\n"
                     "def test_through_helper():\n    check(helper())\n")
    asserting = asserting_functions(tree)
    assert "test_through_helper" in asserting
    assert "test_empty" not in asserting
