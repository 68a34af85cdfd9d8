"""The arrow goes one way: app imports gateway, never the reverse, and gateway never loads Qt."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.paths import REPO

FORBIDDEN = ("app", "PySide6", "shiboken6")


def test_no_gateway_module_imports_app_or_qt() -> None:
    offenders = []
    for path in sorted((REPO / "gateway").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.stmt | ast.expr):
                continue  # nothing else has a line or names a module
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                # importlib.import_module("app.…") would hide the dependency from the rule above
                if node.value.split(".")[0] in ("app", "PySide6") and "." in node.value:
                    names = [node.value]
            for name in names:
                if name.split(".")[0] in FORBIDDEN:
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {name}")
    assert offenders == []


def test_importing_the_whole_gateway_loads_no_qt() -> None:
    code = (
        "import pkgutil, importlib, sys, gateway\n"
        "for m in pkgutil.walk_packages(gateway.__path__, 'gateway.'):\n"
        "    if m.name != 'gateway.__main__':\n"
        "        importlib.import_module(m.name)\n"
        "roots = ('PySide6', 'shiboken6', 'app')\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in roots))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
