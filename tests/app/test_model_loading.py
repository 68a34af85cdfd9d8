"""Loading and unloading models from the Models page and the tray, with the context length
chosen per model (a setting), its advice, progress while the backend works, and the loaded
context shown after."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

from app.desktop import Desktop
from gateway.config import load_config
from tests.app.harness import WAIT_MS, cell, start
from tests.fakes import FakeBackend

Make = Callable[..., Desktop]


def state_of(desktop: Desktop, target: str) -> tuple[str, str]:
    """(State, Context) cells of the Models table's row for `target`."""
    table = desktop.window.models.table
    for row in range(table.rowCount()):
        if cell(table, row, 0).data(Qt.ItemDataRole.UserRole) == target:
            return cell(table, row, 2).text(), cell(table, row, 3).text()
    raise KeyError(target)


def menu_action(menu: QMenu, starts: str) -> QAction:
    for action in menu.actions():
        if action.text().startswith(starts):
            return action
    raise KeyError(starts, [a.text() for a in menu.actions()])


def test_a_model_loads_from_the_models_page_with_the_chosen_context(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    fake = fake_backend("lmstudio", models=["coder", "helper"], loaded=["coder"], rest="v1")
    fake.flavour.load_seconds = 1.5
    desktop = make_desktop(fake)
    start(desktop, qtbot, models=2)
    window = desktop.window
    page = window.models
    window.show_section("Models")
    assert page.select("lmstudio:helper")
    assert state_of(desktop, "lmstudio:helper") == ("not loaded", "up to 128k")
    assert page.load.isEnabled()
    assert not page.unload.isEnabled()

    page.context.setCurrentIndex(page.context.findData(32768))
    assert desktop.controller.config.load_context == {"lmstudio:helper": 32768}
    assert "under 64k, sessions compact often" in page.context_note.text()
    page.context.setCurrentIndex(page.context.findData(16384))
    assert "Claude Code needs at least 32k" in page.context_note.text()
    page.context.setCurrentIndex(page.context.findData(65536))
    assert "enough for Claude Code" in page.context_note.text()

    qtbot.mouseClick(page.load, Qt.MouseButton.LeftButton)
    # While LM Studio loads: the row says so, the bar runs, the time is counted.
    assert state_of(desktop, "lmstudio:helper")[0] == "loading…"
    assert page.progress.isVisibleTo(window)
    assert page.progress_text.text().startswith("Loading helper…")
    assert not page.load.isEnabled()
    qtbot.waitUntil(
        lambda: state_of(desktop, "lmstudio:helper") == ("loaded", "64k of 128k"), timeout=WAIT_MS
    )
    load = next(r for r in fake.requests if r.path == "/api/v1/models/load")
    assert load.body == {"model": "helper", "config": {"context_length": 65536}}
    assert not page.progress.isVisibleTo(window)
    assert "helper loaded on lmstudio with 64k context" in window.statusBar().currentMessage()
    saved = load_config(desktop.controller.config_path).config
    assert saved.load_context == {"lmstudio:helper": 65536}  # a setting, kept

    page.select("lmstudio:helper")
    qtbot.mouseClick(page.unload, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: state_of(desktop, "lmstudio:helper")[0] == "not loaded", timeout=WAIT_MS
    )
    unloads = [r.body for r in fake.requests if r.path == "/api/v1/models/unload"]
    assert unloads == [{"instance_id": "helper"}]


def test_the_tray_loads_and_unloads_ollama_models(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    fake = fake_backend("ollama", models=["qwen3:8b", "gemma3:4b"], loaded=["qwen3:8b"])
    desktop = make_desktop(fake)
    start(desktop, qtbot, models=2)
    desktop.window.loader.set_context("ollama:gemma3:4b", 32768)
    tray = desktop.tray
    tray.rebuild()
    load_menu = tray.menu.findChild(QMenu, "loadMenu")
    unload_menu = tray.menu.findChild(QMenu, "unloadMenu")
    assert load_menu is not None and unload_menu is not None
    assert [a.text() for a in unload_menu.actions()] == ["qwen3:8b (ollama)"]
    menu_action(load_menu, "gemma3:4b (ollama) · 32k context").trigger()
    qtbot.waitUntil(
        lambda: state_of(desktop, "ollama:gemma3:4b") == ("loaded", "32k of 128k"),
        timeout=WAIT_MS,
    )
    generate = [r for r in fake.requests if r.path == "/api/generate"]
    assert generate[0].body == {
        "model": "gemma3:4b",
        "keep_alive": -1,
        "options": {"num_ctx": 32768},
    }
    tray.rebuild()
    unload_menu = tray.menu.findChild(QMenu, "unloadMenu")
    assert unload_menu is not None
    menu_action(unload_menu, "qwen3:8b (ollama)").trigger()
    qtbot.waitUntil(
        lambda: state_of(desktop, "ollama:qwen3:8b")[0] == "not loaded", timeout=WAIT_MS
    )
    assert [r.body for r in fake.requests if r.path == "/api/generate"][-1] == {
        "model": "qwen3:8b",
        "keep_alive": 0,
    }


def test_lm_studio_before_0_4_says_why_it_cannot_load(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    fake = fake_backend("lmstudio", models=["coder", "helper"], loaded=["coder"])  # REST v0
    desktop = make_desktop(fake)
    start(desktop, qtbot, models=2)
    page = desktop.window.models
    page.select("lmstudio:helper")
    assert not page.load.isEnabled()
    assert "LM Studio 0.4" in page.load.toolTip()
