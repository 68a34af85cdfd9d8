"""The GUI never waits for the network: with a backend whose every answer takes 5 s, a 50 ms
heartbeat timer keeps firing through discovery, a key test and a gateway restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PySide6.QtCore import Qt, QTimer
from pytestqt.qtbot import QtBot

from app.desktop import Desktop
from gateway.config import BackendConfig
from tests.app.harness import WAIT_MS
from tests.fakes import FakeBackend

# Measures time or memory: nothing else of the run competes with it.
pytestmark = pytest.mark.alone

HANG_S = 5.0
HEARTBEAT_MS = 50
# The longest the GUI thread may go without running its timers.
MAX_GAP_MS = 200


class SlowServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SlowHandler)
        self.release = threading.Event()
        self.hits = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up waiting (the registry's probe timeout) is expected


class _SlowHandler(BaseHTTPRequestHandler):
    server: SlowServer

    def _answer(self) -> None:
        self.server.hits += 1
        self.server.release.wait(HANG_S)
        body = b'{"object": "list", "data": []}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def slow_server() -> Iterator[SlowServer]:
    server = SlowServer()
    thread = threading.Thread(target=server.serve_forever, name="slow-backend", daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(10)


class Heartbeat:
    def __init__(self) -> None:
        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def start(self) -> None:
        self.ticks.clear()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def worst_gap_ms(self) -> float:
        gaps = [b - a for a, b in zip(self.ticks, self.ticks[1:], strict=False)]
        return max(gaps) * 1000 if gaps else float("inf")


def test_the_gui_keeps_its_heartbeat_while_a_backend_hangs(
    make_desktop: Callable[..., Desktop],
    qtbot: QtBot,
    fake_backend: Callable[..., FakeBackend],
    slow_server: SlowServer,
) -> None:
    desktop = make_desktop(fake_backend("lmstudio"))
    config = desktop.controller.config
    slow = BackendConfig(id="slow", kind="custom", url=slow_server.url)
    desktop.controller.config = config.model_copy(update={"backends": [*config.backends, slow]})
    desktop.window.show()
    qtbot.waitExposed(desktop.window)
    qtbot.wait(300)  # the first paint is the GUI's own work, not a wait on the network
    heartbeat = Heartbeat()
    heartbeat.start()

    # Start-up probes every backend, the slow one included.
    desktop.controller.start()
    qtbot.waitUntil(lambda: desktop.controller.state == "running", timeout=WAIT_MS)
    qtbot.wait(500)
    phases: dict[str, float] = {"start": heartbeat.worst_gap_ms()}

    # Discovery: a refresh asked for now, answered in 5 s.
    heartbeat.start()
    hits = slow_server.hits
    desktop.controller.refresh_backends()
    qtbot.waitUntil(lambda: slow_server.hits > hits, timeout=WAIT_MS)
    qtbot.wait(int(HANG_S * 1000))
    phases["discovery"] = heartbeat.worst_gap_ms()

    # A key test against the slow provider.
    heartbeat.start()
    dialog = desktop.window.backends.open_dialog(None)
    dialog.preset.setCurrentIndex(dialog.preset.findData("custom"))
    dialog.url.setText(slow_server.url)
    dialog.key.setText("sk-test")
    began = time.perf_counter()
    qtbot.mouseClick(dialog.test, Qt.MouseButton.LeftButton)
    assert dialog.outcome.text() == "Testing…"
    qtbot.waitUntil(lambda: dialog.outcome.text() != "Testing…", timeout=WAIT_MS)
    assert time.perf_counter() - began >= HANG_S * 0.9  # it really waited for the answer
    assert dialog.outcome.text() == "OK: 0 models listed"
    dialog.reject()
    phases["key test"] = heartbeat.worst_gap_ms()

    # A restart, whose new server probes the slow backend again before it serves.
    heartbeat.start()
    server = desktop.controller.server
    assert server is not None
    old_app = server.app
    desktop.controller.restart()
    qtbot.waitUntil(lambda: server.app is not old_app, timeout=WAIT_MS)
    qtbot.wait(500)
    phases["restart"] = heartbeat.worst_gap_ms()
    heartbeat.stop()

    assert all(gap < MAX_GAP_MS for gap in phases.values()), phases
