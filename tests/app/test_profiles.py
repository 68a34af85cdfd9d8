"""Profiles (#13 item 3): named setups of backends and models, saved from Settings, switched from
the tray in one click, without dropping a request in flight."""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

from app.desktop import Desktop
from app.profiles import active_profile, save_profile
from gateway.config import BackendConfig, load_config
from tests.app.harness import WAIT_MS, ask, start
from tests.fakes import FakeBackend, Text

Make = Callable[..., Desktop]


def test_profiles_switch_from_the_tray_without_dropping_a_request(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    local = fake_backend("lmstudio", models=["local-coder"])
    cloud = fake_backend("lmstudio", models=["cloud-model"])
    desktop = make_desktop(local, big="lmstudio:local-coder")
    start(desktop, qtbot)
    controller = desktop.controller
    settings = desktop.window.settings
    assert save_profile(controller, "Local")
    controller.update(
        backends=[BackendConfig(id="cloud", url=cloud.url)], big="cloud:cloud-model", small=None
    )
    qtbot.waitUntil(lambda: controller.config.big == "cloud:cloud-model", timeout=WAIT_MS)
    qtbot.waitUntil(
        lambda: controller.snapshot.model("cloud", "cloud-model") is not None, timeout=WAIT_MS
    )
    assert save_profile(controller, "Cloud")
    assert active_profile(controller.config) == "Cloud"
    assert settings.profile_note.text() == "In use: Cloud"
    assert [settings.profile.itemText(i) for i in range(settings.profile.count())] == [
        "Cloud",
        "Local",
    ]
    qtbot.waitUntil(  # saved to the file, off the GUI thread
        lambda: set(load_config(controller.config_path).config.profiles) == {"Local", "Cloud"},
        timeout=WAIT_MS,
    )

    # A slow answer from the cloud backend is in flight while the switch happens.
    cloud.script(Text("the whole answer arrives", chunks=10, delay=0.15))
    answers: list[str] = []
    worker = threading.Thread(target=lambda: answers.append(ask(controller.url, "slow one")))
    worker.start()
    assert cloud.wait_for_requests(1, timeout=WAIT_MS / 1000)

    tray = desktop.tray
    tray.rebuild()
    menu = tray.menu.findChild(QMenu, "profileMenu")
    assert menu is not None
    actions = {a.text(): a for a in menu.actions() if isinstance(a, QAction)}
    assert actions["Cloud"].isChecked() and not actions["Local"].isChecked()
    actions["Local"].trigger()
    qtbot.waitUntil(lambda: controller.config.big == "lmstudio:local-coder", timeout=WAIT_MS)
    assert [b.id for b in controller.config.backends] == ["lmstudio"]
    worker.join(timeout=WAIT_MS / 1000)
    assert answers == ["the whole answer arrives"]  # not dropped by the switch
    qtbot.waitUntil(lambda: controller.running, timeout=WAIT_MS)
    qtbot.waitUntil(
        lambda: controller.snapshot.model("lmstudio", "local-coder") is not None, timeout=WAIT_MS
    )
    before = len(local.chat_requests)
    ask(controller.url, "after the switch")
    assert len(local.chat_requests) == before + 1
    assert active_profile(controller.config) == "Local"
