"""The desktop app's parts wired together: controller, request log, window and tray. `run()` in
`app.main` builds one for the process; tests build one against fake backends."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QApplication

from app.background import Background
from app.bridge import RecordBridge
from app.controller import GatewayController
from app.history import HISTORY_NAME, History
from app.icons import app_icon
from app.notifications import Notifier
from app.request_log import RequestLogModel
from app.theme import apply_theme
from app.tray import Tray
from app.watching import BackendSearch
from app.window import MainWindow
from gateway.autostart import Autostart
from gateway.config import ConfigLoad
from gateway.keystore import Keystore
from gateway.upstream.client import Transport

__all__ = ["Desktop", "launch_command"]


def launch_command() -> list[str]:
    """How this install starts the app again (at login): the frozen binary, the `lmgate`
    script beside this Python, or `python -m app`."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    script = Path(sys.executable).with_name("lmgate.exe" if os.name == "nt" else "lmgate")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "app"]


class Desktop(QObject):
    def __init__(
        self,
        loaded: ConfigLoad,
        *,
        quit_app: Callable[[], None] | None = None,
        autostart: Autostart | None = None,
        keystore: Keystore | None = None,
        transport: Transport = "aiohttp",
        tray_available: bool | None = None,
    ) -> None:
        super().__init__()
        app = QApplication.instance()
        assert isinstance(app, QApplication), "create the QApplication first"
        self.app = app
        self.quit_app = quit_app if quit_app is not None else lambda: app.exit(0)
        self.tray_available = Tray.available() if tray_available is None else tray_available
        self.background = Background(self)
        self.controller = GatewayController(
            loaded, background=self.background, keystore=keystore, transport=transport, parent=self
        )
        self.search = BackendSearch(self.controller, self)
        self.log = RequestLogModel(self)
        self.bridge = RecordBridge(self.controller.bus, self)
        self.bridge.record_arrived.connect(self.log.add)
        self.history = History(loaded.path.with_name(HISTORY_NAME), self.background, self)
        self.bridge.record_arrived.connect(self.history.add)
        self.window = MainWindow(
            self.controller,
            self.log,
            autostart=autostart or Autostart(),
            launch_command=launch_command(),
            quit_app=self.quit_app,
            has_tray=lambda: self.tray_available,
            history=self.history,
        )
        self.tray = Tray(
            self.controller,
            open_window=self.window.show_and_raise,
            quit_app=self.quit_app,
            loader=self.window.loader,
        )
        self.notifier = Notifier(self.controller, self._notify, self)
        self.bridge.record_arrived.connect(self.notifier.record)
        app.setWindowIcon(app_icon())
        app.styleHints().colorSchemeChanged.connect(self._theme_changed)
        self.controller.config_changed.connect(self._theme_chosen)
        self._theme: str = loaded.config.theme
        apply_theme(app, self._theme)
        self.controller.state_changed.connect(self._settle)
        self._settled = False
        # The cyclic collector's full passes walk every object: with the modules and widgets of
        # start-up in the heap, one pass stalls the GUI thread (and the gateway's) for over
        # 100 ms. Objects that live as long as the app are moved out of its way.
        gc.freeze()

    def start(self) -> None:
        """Start the gateway, and show the window unless it starts hidden in a tray."""
        self.history.restore(self.log.add, self.log.flush)
        self.controller.start()
        if self.tray_available:
            self.tray.show()
        if not (self.controller.config.start_hidden and self.tray_available):
            self.window.show_and_raise()

    def shutdown(self) -> None:
        self.bridge.close()
        self.tray.hide()
        self.controller.shutdown()
        self.history.close()
        gc.unfreeze()

    def _settle(self, state: str) -> None:
        if state == "running" and not self._settled:
            self._settled = True
            gc.freeze()  # the server stack, now imported and built, lives as long as the app

    def _notify(self, title: str, text: str) -> None:
        """A tray message where there is a tray; else the window's status line says it."""
        if self.tray_available and self.tray.notify(title, text):
            return
        self.window.statusBar().showMessage(f"{title}: {text}", 15000)

    def _theme_changed(self, scheme: Qt.ColorScheme | None = None) -> None:
        """The OS switched between light and dark."""
        apply_theme(self.app, self.controller.config.theme, scheme)
        self.tray.health = ""
        self.tray.update()

    def _theme_chosen(self, config: object) -> None:
        theme = getattr(config, "theme", "system")
        if theme != self._theme:
            self._theme = theme
            apply_theme(self.app, theme)
