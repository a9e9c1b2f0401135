"""The house rule "no test without an assertion", checked on the test code itself.

A test passes this check when its body asserts, expects an exception (``pytest.raises``,
``pytest.fail``), or calls a helper of the test suite that does so (transitively: ``check``
in ``test_properties.py``, ``expect_error`` in ``test_board_file.py``...). A test that only
runs code and checks nothing cannot fail on a wrong result, and this check names it.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CHECKS = {"raises", "fail", "warns"}


def _functions() -> dict[str, list[ast.FunctionDef]]:
    found: dict[str, list[ast.FunctionDef]] = {}
    for path in sorted(TESTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef):
                found.setdefault(node.name, []).append(node)
    return found


def _called(node: ast.AST) -> set[str]:
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            names.add(f.id if isinstance(f, ast.Name) else getattr(f, "attr", ""))
    return names


def _checks_directly(node: ast.AST) -> bool:
    return any(isinstance(sub, ast.Assert) for sub in ast.walk(node)) or bool(
        _called(node) & CHECKS)


def asserting_functions() -> set[str]:
    """Names of the suite's functions that assert, directly or through another one."""
    funcs = _functions()
    asserting = {name for name, defs in funcs.items() if any(_checks_directly(d) for d in defs)}
    calls = {name: set().union(*(_called(d) for d in defs)) for name, defs in funcs.items()}
    grown = True
    while grown:
        grown = False
        for name, called in calls.items():
            if name not in asserting and called & asserting:
                asserting.add(name)
                grown = True
    return asserting


def test_every_test_asserts_something():
    asserting = asserting_functions()
    tests = [(name, d) for name, defs in _functions().items() if name.startswith("test_")
             for d in defs]
    assert len(tests) > 100, "the suite was not found"
    silent = sorted(f"{name} (line {d.lineno})" for name, d in tests
                    if not (_checks_directly(d) or _called(d) & asserting))
    assert silent == [], f"tests that cannot fail on a wrong result: {silent}"


def test_the_check_itself_finds_a_silent_test():
    """The check must be able to fail: a test that only runs code is not taken as asserting."""
    silent = ast.parse("def test_runs_only():\n    sum([1, 2])\n").body[0]
    loud = ast.parse("def test_checks():\n    assert sum([1, 2]) == 3\n").body[0]
    assert not _checks_directly(silent)
    assert _checks_directly(loud)
