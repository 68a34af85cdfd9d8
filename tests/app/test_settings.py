"""The Settings page and what it changes: address and port (restart without a gap, the port-taken
offer, re-applying Claude Code's settings), the token, start at login, and a corrupt config."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import anthropic
import keyring
import keyring.backends.fail
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.controller import MASK
from app.desktop import Desktop
from app.main import load
from gateway import keystore
from gateway.claude_settings import applied_url, plan_apply, write
from gateway.config import GatewayConfig, default_config_path, load_config
from tests.app.harness import WAIT_MS, Quits, ask, start
from tests.fakes import FakeBackend, free_port

Make = Callable[..., Desktop]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_port_is_said_and_the_next_free_one_offered(
    make_desktop: Make,
    qtbot: QtBot,
    fake_backend: Callable[..., FakeBackend],
    taken_port: int,
) -> None:
    desktop = make_desktop(fake_backend("lmstudio"), port=taken_port)
    desktop.start()
    controller, banner = desktop.controller, desktop.window.banner
    qtbot.waitUntil(lambda: controller.state == "failed", timeout=WAIT_MS)
    assert f"Port {taken_port} on 127.0.0.1 is taken by another program" in banner.text.text()
    offer = controller.suggested_port
    assert offer is not None and offer > taken_port
    [use] = banner.buttons()
    assert use.text() == f"Use port {offer}"

    qtbot.mouseClick(use, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: controller.state == "running", timeout=WAIT_MS)
    assert controller.url == f"http://127.0.0.1:{offer}"
    assert ask(controller.url)
    assert not banner.isVisible()


def test_a_port_change_moves_the_gateway_and_offers_to_reapply(
    make_desktop: Make,
    qtbot: QtBot,
    tmp_path: Path,
    fake_backend: Callable[..., FakeBackend],
) -> None:
    desktop = make_desktop(fake_backend("lmstudio"))
    start(desktop, qtbot)
    controller, settings = desktop.controller, desktop.window.settings
    old_url = controller.url
    write(plan_apply(controller.live_config, token_set=False))
    assert applied_url() == old_url

    new_port = free_port()
    settings.port.setValue(new_port)
    qtbot.mouseClick(settings.apply_address, Qt.MouseButton.LeftButton)

    new_url = f"http://127.0.0.1:{new_port}"
    qtbot.waitUntil(lambda: controller.url == new_url, timeout=WAIT_MS)
    assert ask(new_url)
    banner = desktop.window.banner
    qtbot.waitUntil(lambda: banner.key == "reapply", timeout=WAIT_MS)
    assert old_url in banner.text.text() and new_url in banner.text.text()
    qtbot.waitUntil(lambda: load_config(tmp_path / "config.toml").config.port == new_port)

    [reapply] = banner.buttons()
    qtbot.mouseClick(reapply, Qt.MouseButton.LeftButton)
    overview = desktop.window.overview
    qtbot.waitUntil(lambda: overview.dialog is not None, timeout=WAIT_MS)
    assert overview.dialog is not None
    overview.dialog.accept()
    qtbot.waitUntil(lambda: applied_url() == new_url, timeout=WAIT_MS)


def test_the_network_needs_a_token_first(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    desktop = make_desktop(fake_backend("lmstudio"))
    start(desktop, qtbot)
    settings = desktop.window.settings
    settings.host.setCurrentText("0.0.0.0")
    qtbot.mouseClick(settings.apply_address, Qt.MouseButton.LeftButton)
    assert "create a token first" in desktop.window.banner.text.text()
    assert desktop.controller.config.host == "127.0.0.1"


def test_the_token_is_shown_only_on_request_and_regenerated_in_the_keyring(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    store = keystore.Keystore()
    desktop = make_desktop(fake_backend("lmstudio"))
    desktop.controller._keystore = store
    start(desktop, qtbot)
    settings = desktop.window.settings
    assert desktop.controller.token is None
    qtbot.mouseClick(settings.regenerate, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: desktop.controller.token is not None, timeout=WAIT_MS)
    token = desktop.controller.token
    assert token is not None and store.get(keystore.TOKEN_NAME) == token
    assert settings.token.text() == MASK
    qtbot.mouseClick(settings.show_token, Qt.MouseButton.LeftButton)
    assert settings.token.text() == token
    # The running gateway wants it now.
    with pytest.raises(Exception, match="401|authentication"):
        ask(desktop.controller.url)
    with anthropic.Anthropic(
        base_url=desktop.controller.url, api_key=token, max_retries=0
    ) as client:
        reply = client.messages.create(
            model="claude-sonnet-4-6", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    assert reply.content


def test_no_keyring_is_said_plainly(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        desktop = make_desktop(fake_backend("lmstudio"))
        desktop.controller._keystore = keystore.Keystore()
        start(desktop, qtbot)
        qtbot.waitUntil(lambda: desktop.window.banner.key == "keyring", timeout=WAIT_MS)
        assert "no secure keyring" in desktop.window.banner.text.text()
        assert ask(desktop.controller.url)  # the gateway still runs, without a token
    finally:
        keyring.set_keyring(previous)


def test_app_settings_are_saved_where_the_headless_mode_reads_them(
    make_desktop: Make,
    qtbot: QtBot,
    tmp_path: Path,
    fake_backend: Callable[..., FakeBackend],
) -> None:
    desktop = make_desktop(fake_backend("lmstudio"))
    start(desktop, qtbot)
    settings = desktop.window.settings
    settings.hidden.setChecked(True)
    settings.capture.setChecked(False)
    settings.log_level.setCurrentText("debug")
    path = tmp_path / "config.toml"
    qtbot.waitUntil(lambda: load_config(path).config.log_level == "debug", timeout=WAIT_MS)
    saved = load_config(path).config
    assert saved.start_hidden is True
    assert saved.capture_bodies is False
    # Applied live: the next request keeps no body.
    assert desktop.controller.server is not None
    assert desktop.controller.server.app_state is not None
    assert desktop.controller.server.app_state.config.capture_bodies is False

    settings.at_login.setChecked(True)
    entry = tmp_path / "xdg-config" / "autostart" / "lmgate.desktop"
    qtbot.waitUntil(entry.exists, timeout=WAIT_MS)
    assert "Exec=" in entry.read_text(encoding="utf-8")
    settings.at_login.setChecked(False)
    qtbot.waitUntil(lambda: not entry.exists(), timeout=WAIT_MS)


def test_a_corrupt_config_is_set_aside_and_the_app_starts_on_defaults(
    qtbot: QtBot, quits: Quits
) -> None:
    path = default_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("port = [this is not toml", encoding="utf-8")

    loaded = load()

    assert loaded.config == GatewayConfig()
    assert (path.parent / "config.toml.corrupt-1").read_text() == "port = [this is not toml"
    desktop = Desktop(loaded, quit_app=quits, tray_available=False)
    qtbot.addWidget(desktop.window)
    try:
        banner = desktop.window.banner
        assert not banner.isHidden()
        assert "could not be read" in banner.text.text()
        assert "config.toml.corrupt-1" in banner.text.text()
    finally:
        desktop.shutdown()


def test_an_unreadable_config_does_not_stop_the_app(tmp_path: Path) -> None:
    path = default_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(exist_ok=True)  # a folder where the file should be: reading it fails
    loaded = load()
    assert loaded.problem is not None and "cannot be read" in loaded.problem
    assert loaded.config.port == 8082


def test_a_lost_config_starts_the_app_on_its_backup_with_a_banner_that_keeps_it(
    qtbot: QtBot, quits: Quits
) -> None:
    path = default_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = path.with_name("config.toml.bak")
    backup.write_text('port = 0\nbig = "kept-big"\nallowed_hosts = ["gpu-box"]\n')

    loaded = load()

    assert loaded.config.big == "kept-big" and loaded.config.allowed_hosts == ["gpu-box"]
    desktop = Desktop(loaded, quit_app=quits, tray_available=False)
    qtbot.addWidget(desktop.window)
    try:
        banner = desktop.window.banner
        assert not banner.isHidden() and banner.kind == "warning"
        assert "is missing" in banner.text.text()
        assert "config.toml.bak" in banner.text.text() and "not defaults" in banner.text.text()
        [keep] = banner.buttons()
        assert keep.text() == "Keep these settings"

        qtbot.mouseClick(keep, Qt.MouseButton.LeftButton)

        qtbot.waitUntil(path.exists, timeout=WAIT_MS)
        again = load_config(path)
        assert again.problem is None and again.config.big == "kept-big"
        assert banner.isHidden()
    finally:
        desktop.shutdown()


def test_a_missing_keyring_does_not_cover_the_backup_banner(
    qtbot: QtBot, quits: Quits, fake_backend: Callable[..., FakeBackend]
) -> None:
    path = default_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fake = fake_backend("lmstudio")
    path.with_name("config.toml.bak").write_text(
        f'port = 0\ndiscover = false\n[[backends]]\nid = "lms"\nurl = "{fake.url}"\n'
    )
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    desktop = Desktop(load(), quit_app=quits, tray_available=False)
    qtbot.addWidget(desktop.window)
    try:
        desktop.controller._keystore = keystore.Keystore()
        start(desktop, qtbot)
        qtbot.waitUntil(
            lambda: "API keys can't be saved" in desktop.window.overview.state.text(),
            timeout=WAIT_MS,
        )
        banner = desktop.window.banner
        assert banner.key == "config" and "config.toml.bak" in banner.text.text()
    finally:
        desktop.shutdown()
        keyring.set_keyring(previous)
