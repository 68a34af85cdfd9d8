"""`python -m tests.bench.desktop_browse BACKEND_URL`: the desktop app in this process, its
window shown (offscreen), measured as a user would use it: the time to the first window from the
process's start, RSS idle, after browsing every page, and after 1,000 requests through the
gateway with every page browsed again. Prints one JSON object."""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

__all__ = ["main"]

REQUESTS = 1000


def spin(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 1e6


def main(backend_url: str) -> dict[str, float]:
    scratch = Path(tempfile.mkdtemp(prefix="lmgate-browse-"))
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
    first_window = time.time() - psutil.Process().create_time()
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
    with httpx.Client(base_url=controller.url, timeout=60, trust_env=False) as client:
        for _ in range(REQUESTS):
            client.post(
                "/v1/messages", json=body, headers={"x-api-key": "bench"}
            ).raise_for_status()
            app.processEvents()
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
