"""The size limits of the architecture: a module does one job, a function fits on a screen.

Production code only: tests, migrations and benchmarks are exempt. A module over the limit
is a sign that it holds several concerns; split it rather than raising the limit.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "ingestion", "recommender", "videorec_site")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def production_modules() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (REPO / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def long_functions(tree: ast.AST) -> list[tuple[str, int, int]]:
    """(name, first line, length) of every function longer than the limit."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = node.end_lineno - first + 1
            if length > MAX_FUNCTION_LINES:
                found.append((node.name, first, length))
    return found


def test_the_packages_are_found() -> None:
    # Guards the two tests below against passing on an empty list.
    assert len(production_modules()) > 50


@pytest.mark.parametrize("path", production_modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_module_size(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(REPO)} has {lines} lines"


@pytest.mark.parametrize("path", production_modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_function_size(path: Path) -> None:
    too_long = long_functions(ast.parse(path.read_text()))
    assert not too_long, "; ".join(
        f"{path.relative_to(REPO)}:{line} {name}() has {length} lines"
        for name, line, length in too_long
    )
