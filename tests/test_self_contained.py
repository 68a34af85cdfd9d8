"""The suite stands alone: nothing under tests/ reaches for a path outside the repository."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.paths import FIXTURES, REPO, fixture_names

TESTS = REPO / "tests"


def outside_references(source: str, relative: Path) -> list[str]:
    """Where the code of one file (at `relative` inside the repository) names a path beyond it.

    Code only: a docstring or comment citing a design note is prose, not a read.
    """
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    # How many folders `Path(__file__)` may climb and still be inside the repository.
    depth = len(relative.parts)
    # The links inside a chain such as `Path(__file__).resolve().parents[2]`: only the whole
    # chain is judged.
    links = {
        id(node.func if isinstance(node, ast.Call) else node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute | ast.Subscript | ast.Call)
    }
    found: list[str] = []
    for node in ast.walk(tree):
        where = f"{relative.as_posix()}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings and _climbs(node.value):
                found.append(f"{where}: {node.value!r}")
        elif isinstance(node, ast.Attribute) and node.attr == "pardir":
            found.append(f"{where}: os.pardir")
        if isinstance(node, ast.Attribute | ast.Subscript) and id(node) not in links:
            root, climbed = _climb(node)
            if root == "REPO" and climbed > 0:
                found.append(f"{where}: REPO climbs {climbed} folder(s) up")
            elif root == "__file__" and climbed > depth:
                found.append(f"{where}: __file__ climbs {climbed} folders from {depth} deep")
    return sorted(found)


def _climbs(text: str) -> bool:
    """A path that starts above its base (`..`, `../x`) or goes up in the middle (`a/../..`).

    Text with spaces is not a path (a tokenizer test counts `python3 ../../a/b/`).
    """
    if "shared/fixtures" in text:
        return True
    path = text.replace("\\", "/")
    if not path or any(char.isspace() for char in path):
        return False
    if path.startswith("/"):
        # An absolute path does not climb from the repository: it is data (the auto-mode rules
        # are tested on `/repo/../etc/passwd`); a machine path is a matter for review.
        return False
    return path == ".." or path.startswith("../") or "/../" in path


def _climb(node: ast.expr) -> tuple[str | None, int]:
    """(what the chain starts from, how many folders `.parent` / `.parents[n]` climb)."""
    climbed = 0
    while True:
        if isinstance(node, ast.Attribute):
            if node.attr == "parent":
                climbed += 1
            node = node.value
        elif isinstance(node, ast.Subscript):
            index = node.slice
            if (
                isinstance(node.value, ast.Attribute)
                and node.value.attr == "parents"
                and isinstance(index, ast.Constant)
                and isinstance(index.value, int)
            ):
                climbed += index.value + 1
                node = node.value.value
            else:
                node = node.value
        elif isinstance(node, ast.Call):
            # Path(__file__).resolve(): climb through the call to what it was called on.
            if node.args and isinstance(node.func, ast.Name):
                node = node.args[0]
            else:
                node = node.func
        elif isinstance(node, ast.Name):
            return node.id, climbed
        else:
            return None, climbed


def test_no_test_source_names_a_path_outside_the_repository() -> None:
    offenders: list[str] = []
    for path in sorted(TESTS.rglob("*.py")):
        relative = path.relative_to(REPO)
        if path == Path(__file__).resolve():
            continue  # the check's own examples of what it refuses
        offenders += outside_references(path.read_text(encoding="utf-8"), relative)
    assert offenders == []


def test_the_check_finds_each_way_out() -> None:
    here = Path("tests") / "paths.py"
    assert outside_references('SHARED = REPO.parent / "shared"\n', here) == [
        "tests/paths.py:1: REPO climbs 1 folder(s) up"
    ]
    assert outside_references("ROOT = Path(__file__).resolve().parents[2]\n", here) == [
        "tests/paths.py:1: __file__ climbs 3 folders from 2 deep"
    ]
    assert outside_references("UP = Path(__file__).parent.parent.parent\n", here) == [
        "tests/paths.py:1: __file__ climbs 3 folders from 2 deep"
    ]
    assert outside_references('F = REPO / "../shared/fixtures"\n', here) == [
        "tests/paths.py:1: '../shared/fixtures'"
    ]
    assert outside_references('F = Path("..")\n', here) == ["tests/paths.py:1: '..'"]
    assert outside_references("F = os.path.join(os.pardir, 'x')\n", here) == [
        "tests/paths.py:1: os.pardir"
    ]


def test_the_check_allows_what_stays_inside() -> None:
    here = Path("tests") / "gateway" / "test_x.py"
    inside = (
        '"""Cites shared/fixtures and ../notes in prose."""\n'
        "REPO = Path(__file__).resolve().parents[2]\n"
        "HERE = Path(__file__).parent.parent\n"
        'TEXT = "/usr/bin/python3 ../../a/b/"\n'
        'DATA = REPO / "tests" / "fixtures"\n'
    )
    assert outside_references(inside, here) == []


def test_the_request_fixtures_are_inside_the_repository() -> None:
    assert FIXTURES.is_relative_to(REPO)
    names = fixture_names()
    assert "claude-code-2.1.197-print-say-hi" in names
    assert all((FIXTURES / f"{name}.json").is_file() for name in names)
