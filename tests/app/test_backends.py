"""The Backends page: the table of servers, and a remote provider added from its preset, whose
key goes to the keyring and on to the provider."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidgetItem
from pytestqt.qtbot import QtBot

from app.desktop import Desktop
from gateway import keystore
from gateway.config import load_config
from tests.app.harness import WAIT_MS, MemoryKeyring, ask, start
from tests.fakes import FakeBackend

Make = Callable[..., Desktop]


def cell(desktop: Desktop, row: int, column: int) -> QTableWidgetItem:
    item = desktop.window.backends.table.item(row, column)
    assert item is not None, f"no cell at row {row}, column {column}"
    return item


def cells(desktop: Desktop) -> list[list[str]]:
    table = desktop.window.backends.table
    return [
        [cell(desktop, r, c).text() for c in range(table.columnCount())]
        for r in range(table.rowCount())
    ]


def test_the_table_lists_each_backend_with_its_figures(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    desktop = make_desktop(fake_backend("ollama", models=["a", "b"]), fake_backend("lmstudio"))
    start(desktop, qtbot, models=3)
    rows = {row[0]: row for row in cells(desktop)}
    assert set(rows) == {"ollama", "lmstudio"}
    ollama = rows["ollama"]
    assert ollama[1] == "ollama"
    assert ollama[3] not in ("", "—")  # the version Ollama reports
    assert ollama[4].endswith(" ms")
    assert ollama[6] == "2"
    assert ollama[7] == "added"
    assert not cell(desktop, 0, 0).icon().isNull()


def test_a_remote_provider_is_added_with_its_key_in_the_keyring(
    make_desktop: Make,
    qtbot: QtBot,
    tmp_path: Path,
    fake_backend: Callable[..., FakeBackend],
) -> None:
    local = fake_backend("lmstudio")
    provider = fake_backend("lmstudio", models=["remote-model"])
    memory = MemoryKeyring()
    desktop = make_desktop(local)
    desktop.controller._keystore = keystore.Keystore(memory)
    start(desktop, qtbot)
    page = desktop.window.backends

    dialog = page.open_dialog(None)
    dialog.preset.setCurrentIndex(dialog.preset.findData("custom"))
    dialog.name.setText("myprovider")
    dialog.url.setText(provider.url)
    dialog.key.setText("sk-remote-123")
    qtbot.mouseClick(dialog.test, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.outcome.text() != "Testing…", timeout=WAIT_MS)
    assert dialog.outcome.text() == "OK: 1 models listed"
    assert provider.requests[-1].headers["authorization"] == "Bearer sk-remote-123"
    dialog.buttons.accepted.emit()  # Save

    qtbot.waitUntil(
        lambda: desktop.controller.snapshot.model("myprovider", "remote-model") is not None,
        timeout=WAIT_MS,
    )
    assert memory.store[("lmgate", "myprovider")] == "sk-remote-123"
    path = tmp_path / "config.toml"
    qtbot.waitUntil(lambda: len(load_config(path).config.backends) == 2, timeout=WAIT_MS)
    saved = load_config(path).config
    assert [(b.id, b.kind, b.url) for b in saved.backends][-1] == (
        "myprovider",
        "custom",
        provider.url,
    )
    assert "sk-remote-123" not in (tmp_path / "config.toml").read_text(encoding="utf-8")

    assert desktop.window.models.choose("big", "myprovider:remote-model")
    ask(desktop.controller.url)
    chat = provider.chat_requests[-1]
    assert chat.body["model"] == "remote-model"
    assert chat.headers["authorization"] == "Bearer sk-remote-123"
