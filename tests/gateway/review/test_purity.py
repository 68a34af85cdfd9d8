"""The review's layers are pure, like translate/: no I/O, no clock, no network."""

from __future__ import annotations

import ast

from tests.paths import REPO

ALLOWED = {
    "__future__",
    "collections",
    "collections.abc",
    "dataclasses",
    "fnmatch",
    "ntpath",
    "posixpath",
    "re",
    "shlex",
    "typing",
    "urllib.parse",
    "orjson",
    "gateway.review",
    "gateway.review.classifier",
    "gateway.review.context",
    "gateway.review.results",
    "gateway.review.rules",
    "gateway.review.shell",
}


def test_the_review_imports_nothing_that_does_io() -> None:
    imported: dict[str, set[str]] = {}
    for path in sorted((REPO / "gateway" / "review").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = {node.module}
            else:
                continue
            imported.setdefault(path.name, set()).update(names)
    assert len(imported) >= 6
    assert {name: names - ALLOWED for name, names in imported.items() if names - ALLOWED} == {}
