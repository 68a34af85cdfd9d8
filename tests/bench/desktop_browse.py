"""`python -m tests.bench.desktop_browse BACKEND_URL`: the desktop app in this process, its
window shown (offscreen), measured as a user would use it: the time to the first window from the
process's start, RSS idle, after browsing every page, and after 1,000 requests through the
gateway with every page browsed again. Prints one JSON object."""

from __future__ import annotations

import gc
import http.client
import json
import os
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from app.feature_hook import quiet

__all__ = ["main"]

REQUESTS = 1000


def spin(ms: int) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def rss_mb() -> float:
    gc.collect()
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def process_age() -> float:
    """Seconds since this process started (/proc/self/stat's start time, in clock ticks after
    boot)."""
    with open("/proc/self/stat", "rb") as stat:
        started = int(stat.read().rsplit(b")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
    with open("/proc/uptime", "rb") as uptime:
        return float(uptime.read().split()[0]) - started


def post_messages(
    url: str, body: dict[str, object], count: int, each: Callable[[], object]
) -> None:
    """`count` requests on one keep-alive connection; `each` is called after every answer."""
    where = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=60)
    raw = json.dumps(body).encode()
    headers = {"content-type": "application/json", "x-api-key": "bench"}
    try:
        for _ in range(count):
            connection.request("POST", "/v1/messages", raw, headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"the gateway answered {answer.status}")
            each()
    finally:
        connection.close()


def main(backend_url: str) -> dict[str, float]:
    scratch = Path(tempfile.mkdtemp(prefix="lmgate-browse-"))
    quiet()  # as app.launcher does before it loads Qt
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    from app.desktop import Desktop  # after the QApplication, as app.main does
    from gateway.config import BackendConfig, ConfigLoad, GatewayConfig

    config = GatewayConfig(
        port=0, discover=False, backends=[BackendConfig(id="bench", url=backend_url)]
    )
    desktop = Desktop(
        ConfigLoad(config=config, path=scratch / "config.toml"),
        quit_app=lambda: None,
        tray_available=False,
    )
    window = desktop.window
    desktop.start()
    while not window.isVisible():
        app.processEvents()
    app.processEvents()
    first_window = process_age()
    controller = desktop.controller
    deadline = time.monotonic() + 60
    while not (controller.state == "running" and controller.snapshot.models):
        if time.monotonic() > deadline:
            raise RuntimeError("the gateway did not list the bench backend's models")
        spin(50)
    spin(3000)
    idle = rss_mb()

    def browse() -> None:
        for page in window.pages:
            window.show_section(page.title)  # type: ignore[attr-defined]
            spin(200)

    browse()
    spin(1000)
    browsed = rss_mb()
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 32,
        "messages": [{"role": "user", "content": "hi"}],
    }
    post_messages(controller.url, body, REQUESTS, app.processEvents)
    deadline = time.monotonic() + 60
    while desktop.log.rowCount() < min(REQUESTS, desktop.log.max_rows):
        if time.monotonic() > deadline:
            break
        spin(100)
    browse()
    browse()
    spin(3000)
    after = rss_mb()
    desktop.shutdown()
    return {
        "first_window_s": round(first_window, 3),
        "window_idle_rss_mb": round(idle, 1),
        "browsed_rss_mb": round(browsed, 1),
        "after_1000_requests_rss_mb": round(after, 1),
        "rows": float(desktop.log.rowCount()),
    }


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    print(json.dumps(main(sys.argv[1])))
