"""Sizes a reader can hold, in the packages that ship on the unit: no class over 400 lines and
no function over 80 (docstrings and comments count: they are read too). The simulator's tools
and the tests are not held to it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("controller", "hal", "hardware", "firmware")
MAX_CLASS, MAX_FUNCTION = 400, 80


def _too_long(tree: ast.AST, where: str) -> list[str]:
    found = []
    for node in ast.walk(tree):
        n = node.end_lineno - node.lineno + 1 if hasattr(node, "end_lineno") else 0
        if isinstance(node, ast.ClassDef) and n > MAX_CLASS:
            found.append(f"{where}:{node.lineno} class {node.name}: {n} lines")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and n > MAX_FUNCTION:
            found.append(f"{where}:{node.lineno} def {node.name}: {n} lines")
    return found


def test_no_class_over_400_lines_and_no_function_over_80_in_what_ships():
    found = []
    for pkg in SHIPPED:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            found += _too_long(ast.parse(path.read_text(encoding="utf-8")),
                               path.relative_to(ROOT).as_posix())
    assert not found, "\n".join(found)


def test_the_size_check_sees_a_long_function():
    body = "def f():\n" + "    x = 1\n" * 90
    assert _too_long(ast.parse(body), "t.py") == ["t.py:1 def f: 91 lines"]
