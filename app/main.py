"""`run()`: the desktop app's process. One instance per user; the gateway starts at once on its
worker thread; closing the window leaves the app in the tray; SIGINT and SIGTERM quit cleanly."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.desktop import Desktop
from app.instance import SingleInstance, instance_key
from gateway.config import ConfigLoad, GatewayConfig, default_config_path, load_config
from gateway.logfile import attach_log_file

__all__ = ["load", "run"]

log = logging.getLogger("lmgate.app")


def load() -> ConfigLoad:
    """The config file; a corrupt or unreadable one never stops the app (defaults, and a
    message the window shows)."""
    path = default_config_path()
    try:
        return load_config(path)
    except OSError as exc:
        problem = f"the config file {path} cannot be read ({exc.strerror or exc}); defaults are "
        problem += "in use and your changes will not be saved until it is readable"
        return ConfigLoad(config=GatewayConfig(), path=path, problem=problem)


def run(argv: Sequence[str] | None = None) -> int:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(list(argv if argv is not None else sys.argv))
    app.setApplicationName("LM Gate")
    app.setApplicationDisplayName("LM Gate")
    app.setDesktopFileName("lmgate")
    app.setQuitOnLastWindowClosed(False)

    loaded = load()
    logging.getLogger("lmgate").setLevel(loaded.config.log_level.upper())
    instance = SingleInstance(instance_key(loaded.path))
    if not instance.claim():
        print("lmgate: LM Gate is already running; its window was raised.", file=sys.stderr)
        return 0

    desktop = Desktop(loaded)
    instance.show_requested.connect(desktop.window.show_and_raise)
    detach_log = attach_log_file(desktop.controller.bus)
    if loaded.problem:
        # Said on stderr at load time already; the log file had no handler then.
        log.warning("%s", loaded.problem)
    if not desktop.tray_available:
        # No tray to come back to: the window is the app, and closing it quits.
        app.setQuitOnLastWindowClosed(True)

    # Qt's loop does not return to Python on its own, so a signal's handler would wait for the
    # next event; the timer gives the interpreter a turn every 200 ms.
    def on_signal(signum: int, frame: Any) -> None:
        # exit(), not quit(): Qt 6's quit() first asks every window to close, and a window that
        # hides to the tray refuses, which would cancel the quit.
        app.exit(0)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    heartbeat = QTimer()
    heartbeat.start(200)
    heartbeat.timeout.connect(lambda: None)

    app.aboutToQuit.connect(desktop.shutdown)
    desktop.start()
    try:
        code = app.exec()
    finally:
        heartbeat.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
        detach_log()
        instance.release()
    return int(code)
