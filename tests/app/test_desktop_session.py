"""The real app on a real X server (Xvfb) with a window manager and a tray host: the screenshot
shows its window and its tray icon, and the icon's menu opens. PNGs go to `screenshots/`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage

from app.icons import STATE_COLOURS
from gateway.config import BackendConfig, GatewayConfig, save_config
from tests.app.test_main import RUN, app_env, config_path
from tests.fakes import FakeBackend, free_port
from tests.paths import REPO

SHOTS = REPO / "screenshots"
WIDTH, HEIGHT, TRAY_HEIGHT = 1280, 800, 28
# No session bus: nothing may autolaunch a dbus-daemon that outlives the test, and Qt's tray
# then speaks XEmbed to trayer.
NO_DBUS = {"DBUS_SESSION_BUS_ADDRESS": "disabled:"}


class XSession:
    def __init__(self, display: str, env: dict[str, str]) -> None:
        self.display = display
        self.env = env
        self.processes: list[subprocess.Popen[bytes]] = []

    def spawn(self, *command: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            command,
            env=env or self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process

    def screenshot(self, path: Path) -> QImage:
        subprocess.run(
            ["import", "-window", "root", str(path)], env=self.env, check=True, timeout=60
        )
        return QImage(str(path))

    def xdotool(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            ["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def close(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)


def start_xvfb() -> tuple[str, subprocess.Popen[bytes]]:
    """A private X server on a display it picks itself (`-displayfd`), once it accepts clients.

    A number chosen here from the free lock files could be taken meanwhile by a parallel worker
    or another test run; Xvfb's own choice cannot.
    """
    read, write = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{WIDTH}x{HEIGHT}x24"]
        + ["-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as displays:
        # Written when the server is ready; an empty read means Xvfb exited first.
        number = displays.readline().strip()
    if not number:
        xvfb.wait(10)
        raise AssertionError(f"Xvfb did not start (exit code {xvfb.returncode})")
    return f":{number}", xvfb


@pytest.fixture
def x_session(debian_packages: None) -> Iterator[XSession]:
    display, xvfb = start_xvfb()
    env = {**os.environ, **NO_DBUS, "DISPLAY": display}
    session = XSession(display, env)
    session.processes.append(xvfb)
    try:
        session.spawn("openbox")
        session.spawn(
            "trayer",
            "--edge", "top",
            "--align", "right",
            "--widthtype", "request",
            "--height", str(TRAY_HEIGHT),
            "--transparent", "false",
            "--tint", "0x333333",
        )  # fmt: skip
        yield session
    finally:
        session.close()


def near(colour: QColor, target: QColor, tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(_rgb(colour), _rgb(target), strict=True))


def _rgb(colour: QColor) -> tuple[int, int, int]:
    return colour.red(), colour.green(), colour.blue()


def find_badge(image: QImage, state: str) -> tuple[int, int] | None:
    """Where the tray icon's status badge is: top right, in the tray's strip."""
    target = QColor(STATE_COLOURS[state])
    for y in range(TRAY_HEIGHT + 4):
        for x in range(image.width() - 1, image.width() - 300, -1):
            if near(image.pixelColor(x, y), target):
                return x, y
    return None


@pytest.mark.timeout(300)
def test_the_app_shows_its_window_and_tray_icon_on_a_desktop(
    x_session: XSession, tmp_path: Path, fake_backend: Callable[..., FakeBackend]
) -> None:
    assert shutil.which("import") and shutil.which("xdotool")
    lmstudio = fake_backend(
        "lmstudio", models=["qwen3-coder-30b", "qwen3-4b"], context_length=65536
    )
    ollama = fake_backend("ollama", models=["gpt-oss:20b"], context_length=32768)
    env = {**app_env(tmp_path), **NO_DBUS, "DISPLAY": x_session.display, "QT_QPA_PLATFORM": "xcb"}
    config = GatewayConfig(
        port=free_port(),
        discover=False,
        backends=[
            BackendConfig(id="lmstudio", url=lmstudio.url),
            BackendConfig(id="ollama", url=ollama.url),
        ],
    )
    save_config(config, config_path(tmp_path))
    app = subprocess.Popen(
        [sys.executable, "-c", RUN],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        windows = x_session.xdotool(
            "search", "--sync", "--onlyvisible", "--name", "^LM Gate$", timeout=90
        )
        assert windows.split()
        SHOTS.mkdir(exist_ok=True)
        shot = SHOTS / "desktop-xvfb.png"
        deadline = time.monotonic() + 90
        while (badge := find_badge(x_session.screenshot(shot), "healthy")) is None:
            assert app.poll() is None, app.communicate()
            assert time.monotonic() < deadline, "no healthy tray icon in the screenshot"
            time.sleep(0.5)
        image = QImage(str(shot))
        # The window is drawn: its area holds the app's text and colours, not the bare root.
        window = image.copy(0, TRAY_HEIGHT + 40, WIDTH // 2, HEIGHT // 2)
        colours = {
            window.pixel(x, y)
            for x in range(0, window.width(), 7)
            for y in range(0, window.height(), 7)
        }
        assert len(colours) > 20

        x, y = badge
        x_session.xdotool("mousemove", str(x - 8), str(y), "click", "3")
        menu_shot = SHOTS / "desktop-xvfb-menu.png"
        deadline = time.monotonic() + 30
        while x_session.screenshot(menu_shot) == image:
            assert time.monotonic() < deadline, "the tray menu did not open"
            time.sleep(0.3)
        x_session.xdotool("key", "Escape")
    finally:
        app.send_signal(signal.SIGTERM)
        try:
            _, err = app.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            app.kill()
            _, err = app.communicate()
    assert app.returncode == 0, err
    assert "Traceback" not in err
