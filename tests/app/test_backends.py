"""The Backends page: the table of servers, and a remote provider added from its preset, whose
key goes to the keyring and on to the provider."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keyring
import keyring.backends.fail
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidgetItem
from pytestqt.qtbot import QtBot

from app.desktop import Desktop
from app.icons import STATE_COLOURS
from gateway import keystore
from gateway.config import BackendConfig, load_config
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


def badge(desktop: Desktop) -> str:
    image = desktop.tray.icon.icon().pixmap(64, 64).toImage()
    return image.pixelColor(48, 48).name()


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


def test_with_no_keyring_a_provider_is_kept_and_its_key_read_from_a_variable(
    make_desktop: Make,
    qtbot: QtBot,
    tmp_path: Path,
    fake_backend: Callable[..., FakeBackend],
) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(
        keyring.backends.fail.Keyring()
    )  # what keyring finds with no Secret Service
    try:
        local = fake_backend("lmstudio")
        provider = fake_backend("lmstudio", models=["remote-model"])
        desktop = make_desktop(local)
        desktop.controller._keystore = keystore.Keystore()
        start(desktop, qtbot)
        controller, overview = desktop.controller, desktop.window.overview

        # What works first; the keyring never makes serving Claude Code "a problem".
        status = "Local models ready · API keys can't be saved: no keyring"
        qtbot.waitUntil(lambda: overview.state.text() == status, timeout=WAIT_MS)
        assert controller.health() == "healthy"
        assert desktop.tray.health == "healthy"
        assert badge(desktop) == STATE_COLOURS["healthy"]
        assert "with a problem" not in desktop.tray.icon.toolTip()
        assert desktop.tray.icon.toolTip().splitlines()[-1] == "API keys can't be saved: no keyring"

        page = desktop.window.backends
        qtbot.mouseClick(page.add, Qt.MouseButton.LeftButton)
        dialog = page.dialog
        assert dialog is not None and dialog.isVisible()
        dialog.preset.setCurrentIndex(dialog.preset.findData("custom"))
        dialog.name.clear()
        qtbot.keyClicks(dialog.name, "my-provider")
        dialog.url.clear()
        qtbot.keyClicks(dialog.url, provider.url)
        qtbot.keyClicks(dialog.key, "sk-remote-123")
        assert not dialog.key_env.isVisible()  # the keyring is tried first
        qtbot.mouseClick(dialog.save, Qt.MouseButton.LeftButton)

        # The dialog stays, with everything typed, the reason and the other way.
        qtbot.waitUntil(lambda: "can't be saved" in dialog.outcome.text(), timeout=WAIT_MS)
        assert dialog.isVisible()
        said = dialog.outcome.text()
        assert "no keyring" in said and "Nothing you typed is lost" in said
        assert "keyring.backends" not in said  # plain words; the details are in the tooltip
        assert "no secure keyring" in dialog.outcome.toolTip()
        assert (dialog.name.text(), dialog.url.text(), dialog.key.text()) == (
            "my-provider",
            provider.url,
            "sk-remote-123",
        )
        assert dialog.key_env.isVisible() and dialog.key_env.text() == "MY_PROVIDER_API_KEY"
        assert "export MY_PROVIDER_API_KEY=" in dialog.key_env_hint.text()
        assert dialog.save.text() == "Save with the variable"
        assert [b.id for b in controller.config.backends] == ["lmstudio"]

        qtbot.mouseClick(dialog.save, Qt.MouseButton.LeftButton)

        qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT_MS)
        qtbot.waitUntil(
            lambda: controller.snapshot.model("my-provider", "remote-model") is not None,
            timeout=WAIT_MS,
        )
        path = tmp_path / "config.toml"
        qtbot.waitUntil(lambda: len(load_config(path).config.backends) == 2, timeout=WAIT_MS)
        added = load_config(path).config.backends[-1]
        assert (added.id, added.url, added.api_key_env) == (
            "my-provider",
            provider.url,
            "MY_PROVIDER_API_KEY",
        )
        assert "sk-remote-123" not in path.read_text(encoding="utf-8")
        # Until the variable is set and the app restarts, the key typed is used from memory.
        assert desktop.window.models.choose("big", "my-provider:remote-model")
        ask(controller.url)
        assert provider.chat_requests[-1].headers["authorization"] == "Bearer sk-remote-123"
        assert overview.state.text() == "Ready · API keys can't be saved: no keyring"
    finally:
        keyring.set_keyring(previous)


def test_a_provider_whose_key_is_in_a_variable_opens_with_it(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    desktop = make_desktop(fake_backend("lmstudio"))
    desktop.controller.config = desktop.controller.config.model_copy(
        update={
            "backends": [
                BackendConfig(id="router", kind="openrouter", api_key_env="ROUTER_KEY"),
            ]
        }
    )
    dialog = desktop.window.backends.open_dialog("router")
    assert dialog.key_env.isVisible() and dialog.key_env.text() == "ROUTER_KEY"
    assert dialog.backend().api_key_env == "ROUTER_KEY"
    dialog.key_env.setText("2BAD")
    qtbot.mouseClick(dialog.save, Qt.MouseButton.LeftButton)
    assert "cannot be an environment variable's name" in dialog.outcome.text()
    assert dialog.isVisible()


def test_a_provider_cannot_take_the_gateway_tokens_name(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    desktop = make_desktop(fake_backend("lmstudio"))
    memory = MemoryKeyring()
    desktop.controller._keystore = keystore.Keystore(memory)
    dialog = desktop.window.backends.open_dialog(None)
    dialog.name.setText(keystore.TOKEN_NAME)
    qtbot.keyClicks(dialog.key, "sk-would-replace-the-token")
    qtbot.mouseClick(dialog.save, Qt.MouseButton.LeftButton)
    assert "a name LM Gate keeps for itself" in dialog.outcome.text()
    assert dialog.isVisible() and memory.store == {}
