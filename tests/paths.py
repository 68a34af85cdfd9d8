"""Where the tests find the repository and the recorded Claude Code requests inside it."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest

__all__ = ["FIXTURES", "REPO", "fixture_names", "load_fixture", "visible_tools"]

REPO = Path(__file__).resolve().parents[1]
# Every request Claude Code really sent, one file each (`claude-code-VERSION-what.json`), kept in
# the repository so a fresh clone tests itself.
FIXTURES = REPO / "tests" / "fixtures" / "claude-code"


def fixture_names() -> list[str]:
    """The names (without `.json`) of the recorded Claude Code requests."""
    _require_fixtures()
    return sorted(path.stem for path in FIXTURES.glob("*.json"))


def load_fixture(name: str) -> dict[str, Any]:
    """One recorded request: a dict with `source`, `headers` and `body`. A fresh copy each call."""
    _require_fixtures()
    path = FIXTURES / (name if name.endswith(".json") else f"{name}.json")
    if not path.is_file():
        pytest.fail(f"no fixture {path.name} in {FIXTURES}; known: {', '.join(fixture_names())}")
    data: dict[str, Any] = orjson.loads(_read(path))
    return data


def visible_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tools of a recorded request that a model may call: Claude Code 2.1.3xx marks some
    `defer_loading` (tool search), and one of those becomes callable only once a `tool_reference`
    in a tool result names it."""
    referenced = {
        ref.get("tool_name")
        for message in body.get("messages") or []
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if block.get("type") == "tool_result" and isinstance(block.get("content"), list)
        for ref in block["content"]
        if isinstance(ref, dict) and ref.get("type") == "tool_reference"
    }
    return [
        tool
        for tool in body.get("tools") or []
        if not tool.get("defer_loading") or tool.get("name") in referenced
    ]


@cache
def _read(path: Path) -> bytes:
    return path.read_bytes()


def _require_fixtures() -> None:
    if not FIXTURES.is_dir():
        pytest.fail(f"the recorded Claude Code requests are missing: expected them in {FIXTURES}")
