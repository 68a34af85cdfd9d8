"""The tray icon's look, tooltip and menu: every action does what it says."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

from app.desktop import Desktop
from app.icons import STATE_COLOURS, tray_icon
from app.signals import emit
from tests.app.harness import WAIT_MS, Quits, ask, start
from tests.fakes import FakeBackend

Make = Callable[..., Desktop]


def actions(menu: QMenu) -> dict[str, QAction]:
    emit(menu.aboutToShow)  # what opening the menu does
    return {a.text(): a for a in menu.actions() if a.text()}


def submenu(menu: QMenu, title: str) -> dict[str, QAction]:
    found = actions(menu)[title].menu()
    assert isinstance(found, QMenu)
    return {a.text(): a for a in found.actions()}


def badge(desktop: Desktop) -> str:
    image = desktop.tray.icon.icon().pixmap(64, 64).toImage()
    return image.pixelColor(48, 48).name()


def test_the_icon_and_tooltip_tell_the_state(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    desktop = make_desktop(fake_backend("lmstudio", models=["big-one"]))
    assert badge(desktop) == STATE_COLOURS["stopped"]
    start(desktop, qtbot)
    qtbot.waitUntil(lambda: desktop.tray.health == "healthy", timeout=WAIT_MS)
    assert badge(desktop) == STATE_COLOURS["healthy"]
    tip = desktop.tray.icon.toolTip()
    assert tip.splitlines() == [
        "LM Gate: running",
        desktop.controller.url,
        "Sonnet → big-one (lmstudio)",
        "Haiku → big-one (lmstudio)",
    ]


def test_a_routed_backend_going_down_turns_the_icon_amber(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    backend = fake_backend("lmstudio")
    desktop = make_desktop(backend)
    start(desktop, qtbot)
    backend.stop()
    desktop.controller.refresh_backends()
    qtbot.waitUntil(lambda: desktop.tray.health == "degraded", timeout=WAIT_MS)
    assert badge(desktop) == STATE_COLOURS["degraded"]
    assert "with a problem" in desktop.tray.icon.toolTip()


def test_the_icons_are_drawn_sharp_at_any_size() -> None:
    icon = tray_icon("failed", dark=True)
    for size in (16, 22, 64, 256):
        image = icon.pixmap(size, size).toImage()
        assert image.width() == size
        # The badge sits at three quarters of the icon at every size.
        assert image.pixelColor(size * 3 // 4, size * 3 // 4).name() == STATE_COLOURS["failed"]


def test_the_menu_actions_act(
    make_desktop: Make,
    qtbot: QtBot,
    quits: Quits,
    fake_backend: Callable[..., FakeBackend],
) -> None:
    lmstudio = fake_backend("lmstudio", models=["first", "second"])
    ollama = fake_backend("ollama", models=["other"])
    desktop = make_desktop(lmstudio, ollama)
    start(desktop, qtbot, models=3)
    controller, menu = desktop.controller, desktop.tray.menu

    found = actions(menu)
    assert f"LM Gate running · {controller.url}" in found
    assert not found[f"LM Gate running · {controller.url}"].isEnabled()

    # Only loaded models are offered: LM Studio reports its first model loaded, Ollama its one.
    big = submenu(menu, "Big model (Sonnet)")
    assert set(big) == {"first (lmstudio)", "other:latest (ollama)"}
    assert big["first (lmstudio)"].isChecked()
    big["other:latest (ollama)"].trigger()
    assert controller.config.big == "ollama:other:latest"
    ask(controller.url)
    assert [r.body["model"] for r in ollama.chat_requests] == ["other:latest"]
    small = submenu(menu, "Small model (Haiku)")
    small["first (lmstudio)"].trigger()
    assert controller.config.small == "lmstudio:first"

    actions(menu)["Copy export line"].trigger()
    assert (
        QGuiApplication.clipboard()
        .text()
        .startswith(f"export ANTHROPIC_BASE_URL='{controller.url}'")
    )

    desktop.window.hide()
    actions(menu)["Open LM Gate"].trigger()
    assert desktop.window.isVisible()

    actions(menu)["Stop the gateway"].trigger()
    qtbot.waitUntil(lambda: controller.state == "stopped", timeout=WAIT_MS)
    assert "Start the gateway" in actions(menu)
    actions(menu)["Start the gateway"].trigger()
    qtbot.waitUntil(lambda: controller.state == "running", timeout=WAIT_MS)
    assert ask(controller.url)

    assert quits == []
    actions(menu)["Quit LM Gate"].trigger()
    assert quits == ["quit"]
