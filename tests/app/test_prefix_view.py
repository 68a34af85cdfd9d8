"""The Requests page says when a turn's prompt stopped continuing its conversation's last one
(the backend re-reads it from there), and how many prompt tokens the backend read from its cache."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.desktop import Desktop
from tests.app.harness import WAIT_MS, start
from tests.fakes import FakeBackend, Text, Usage

SESSION = {"x-claude-code-session-id": "3f0c6a52-prefix-view"}
FIRST = {"role": "user", "content": "list the files"}


def _tool(name: str) -> dict[str, Any]:
    return {"name": name, "description": name, "input_schema": {"type": "object"}}


def _turn(url: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> None:
    with anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0, timeout=60) as client:
        client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=64,
            messages=messages,  # type: ignore[arg-type]
            tools=tools,  # type: ignore[arg-type]
            extra_headers=SESSION,
        )


def test_the_detail_says_the_prefix_changed_and_the_table_shows_cached_tokens(
    make_desktop: Callable[..., Desktop], qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    backend = fake_backend("llamacpp", context_length=65536)
    backend.script(
        Text("a.txt b.txt", usage=Usage(400, 5, 0)),
        Text("two files", usage=Usage(420, 3, 396)),
        Text("done", usage=Usage(450, 2, 0)),
    )
    desktop = make_desktop(backend, big="fake-model", small="fake-model")
    start(desktop, qtbot)
    url = desktop.controller.url
    history = [FIRST]
    _turn(url, history, [_tool("Bash")])
    history += [
        {"role": "assistant", "content": "a.txt b.txt"},
        {"role": "user", "content": "how many?"},
    ]
    _turn(url, history, [_tool("Bash")])
    history += [{"role": "assistant", "content": "two files"}, {"role": "user", "content": "ok"}]
    _turn(url, history, [_tool("Bash"), _tool("Read")])

    log = desktop.log
    qtbot.waitUntil(lambda: log.rowCount() == 3, timeout=WAIT_MS)
    column = next(
        c
        for c in range(log.columnCount())
        if log.headerData(c, Qt.Orientation.Horizontal) == "Cached"
    )
    # Newest first: the third turn, then the second, which read 396 tokens from the cache.
    assert [log.index(r, column).data() for r in range(3)] == ["0", "396", "0"]
    page = desktop.window.requests
    desktop.window.show_section("Requests")
    page.select(1)
    second = page.summary.toPlainText()
    assert "cached 396" in second and "prefix changed" not in second
    page.select(0)
    third = page.summary.toPlainText()
    assert (
        "Backend's prompt cache: prefix changed at the tools (+Read): "
        "the whole prompt is read again"
    ) in third
