"""The arrow goes one way: app imports gateway, never the reverse, and gateway never loads Qt."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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


def gateway_imports(path: Path) -> set[str]:
    """The gateway modules `path` imports, at the top or inside a function alike."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "gateway"}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                found.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_the_gateway_imports_have_no_cycle() -> None:
    # An import moved into a function to break a cycle is still a cycle: it is counted too.
    modules = {}
    for path in sorted((REPO / "gateway").rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {name: gateway_imports(path) & set(modules) for name, path in modules.items()}
    assert cycles(graph) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
