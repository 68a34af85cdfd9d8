"""Helpers the desktop app's tests share."""

from __future__ import annotations

import anthropic
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem
from pytestqt.qtbot import QtBot

from app.desktop import Desktop
from tests.keyrings import MemoryKeyring

__all__ = ["WAIT_MS", "MemoryKeyring", "Quits", "ask", "cell", "start"]

# A loaded machine can take seconds to start a server and probe its backends.
WAIT_MS = 30_000


def start(desktop: Desktop, qtbot: QtBot, *, models: int = 1) -> None:
    """Start the gateway the way the app does and wait until it serves and lists models."""
    desktop.start()
    controller = desktop.controller
    qtbot.waitUntil(lambda: controller.state in ("running", "failed"), timeout=WAIT_MS)
    assert controller.state == "running", controller.error
    qtbot.waitUntil(lambda: len(controller.snapshot.models) >= models, timeout=WAIT_MS)


def ask(
    url: str,
    text: str = "hi",
    model: str = "claude-sonnet-4-6",
    headers: dict[str, str] | None = None,
) -> str:
    """One request through the gateway with the anthropic SDK, the way a client sends it
    (`headers`: more of them, e.g. Claude Code's session id)."""
    with anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0, timeout=60) as client:
        reply = client.messages.create(
            model=model,
            max_tokens=64,
            messages=[{"role": "user", "content": text}],
            extra_headers=headers,
        )
    block = reply.content[0]
    assert block.type == "text"
    return block.text


class Quits(list[str]):
    """Stands in for QApplication.quit: the tests quit nothing, they check it was asked."""

    def __call__(self) -> None:
        self.append("quit")


def cell(table: QTableWidget, row: int, column: int) -> QTableWidgetItem:
    """A table's item, which must be there."""
    item = table.item(row, column)
    assert item is not None, (row, column)
    return item
