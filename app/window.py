"""The main window: a sidebar of pages, a message banner above them, and a status bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QSize
from PySide6.QtGui import QCloseEvent, QHideEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.banner import Banner
from app.controller import GatewayController
from app.history import HISTORY_NAME, History
from app.icons import app_icon, section_icon
from app.model_loading import ModelLoader
from app.request_log import RequestLogModel
from app.sections.about import AboutPage
from app.sections.backends import BackendsPage
from app.sections.models import ModelsPage
from app.sections.overview import OverviewPage
from app.sections.requests import RequestsPage
from app.sections.settings import SettingsPage
from app.sections.usage import UsagePage
from gateway import claude_settings
from gateway.autostart import Autostart

__all__ = ["MainWindow", "default_size"]


def default_size(char_width: int, line_spacing: int, available: QSize | None) -> QSize:
    """About 1280 × 800 at the usual 9 pt UI font (213 × 57 of its characters and lines, the
    same look at 100 % and 200 %), within the screen's free area."""
    wanted = QSize(char_width * 213, line_spacing * 57)
    if available is None or available.isEmpty():
        return wanted
    return wanted.boundedTo(QSize(available.width() * 97 // 100, available.height() * 95 // 100))


class MainWindow(QMainWindow):
    def __init__(
        self,
        controller: GatewayController,
        log: RequestLogModel,
        *,
        autostart: Autostart,
        launch_command: Sequence[str],
        quit_app: Callable[[], None],
        has_tray: Callable[[], bool],
        history: History | None = None,
    ) -> None:
        super().__init__()
        self.controller = controller
        self._quit_app = quit_app
        self._has_tray = has_tray
        self.setWindowTitle("LM Gate")
        self.setWindowIcon(app_icon())
        self.setObjectName("mainWindow")

        self.overview = OverviewPage(controller)
        self.loader = ModelLoader(controller, self)
        self.models = ModelsPage(controller, lambda: log.images_seen, self.loader)
        self.backends = BackendsPage(controller)
        self.requests = RequestsPage(controller, log)
        self.settings = SettingsPage(controller, autostart, launch_command)
        self.about = AboutPage(controller)
        self.history = history or History(
            controller.config_path.with_name(HISTORY_NAME), controller.background, self
        )
        self.usage = UsagePage(controller, self.history)
        self.pages: list[QWidget] = [
            self.overview,
            self.models,
            self.backends,
            self.requests,
            self.usage,
            self.settings,
            self.about,
        ]

        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setAccessibleName("Sections")
        self.sidebar.setIconSize(QSize(20, 20))
        self.sidebar.setSpacing(2)
        self.stack = QStackedWidget()
        for number, page in enumerate(self.pages, start=1):
            item = QListWidgetItem(section_icon(page.icon_name), page.title)  # type: ignore[attr-defined]
            item.setToolTip(f"{page.title} (Ctrl+{number})")  # type: ignore[attr-defined]
            item.setSizeHint(QSize(0, max(34, self.fontMetrics().height() + 16)))
            self.sidebar.addItem(item)
            self.stack.addWidget(page)
            shortcut = QShortcut(QKeySequence(f"Ctrl+{number}"), self)
            shortcut.activated.connect(lambda n=number - 1: self.sidebar.setCurrentRow(n))
        width = max(self.sidebar.sizeHintForColumn(0), 110) + 24
        self.sidebar.setFixedWidth(width)
        self.sidebar.currentRowChanged.connect(self.stack.setCurrentIndex)

        self.banner = Banner()
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.addWidget(self.banner)
        right.addWidget(self.stack, 1)
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.addWidget(self.sidebar)
        layout.addLayout(right, 1)
        self.setCentralWidget(central)
        self.statusBar().setSizeGripEnabled(True)
        # The address and counts stay on the right; notices come and go on the left.
        self.where = QLabel()
        self.where.setObjectName("statusWhere")
        self.statusBar().addPermanentWidget(self.where)

        QShortcut(QKeySequence(QKeySequence.StandardKey.Close), self, self.close)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Quit), self, quit_app)

        controller.problem_reported.connect(self.show_problem)
        controller.notice.connect(lambda text: self.statusBar().showMessage(text, 8000))
        controller.state_changed.connect(self._state_changed)
        controller.address_changed.connect(self._address_changed)
        self.overview.claude_changed.connect(lambda text: self.statusBar().showMessage(text, 8000))
        log.rows_added.connect(lambda _: self._images_check(log))
        self._images_noted = False
        self.sidebar.setCurrentRow(0)
        self.resize(self._default_size())
        if controller.load_problem:
            self.show_problem("config", controller.load_problem)

    def show_section(self, title: str) -> QWidget:
        for row, page in enumerate(self.pages):
            if page.title == title:  # type: ignore[attr-defined]
                self.sidebar.setCurrentRow(row)
                return page
        raise KeyError(title)

    def show_and_raise(self) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def show_problem(self, kind: str, message: str) -> None:
        if kind == "keyring" and self.banner.key == "config" and self.banner.isVisibleTo(self):
            # Settings read from a backup matter more; the status line names the keyring.
            return
        actions: list[tuple[str, Callable[[], None]]] = []
        level = "error"
        if kind == "port" and self.controller.suggested_port:
            port = self.controller.suggested_port
            actions.append((f"Use port {port}", lambda: self._use_port(port)))
        elif kind == "reapply":
            level = "warning"
            actions.append(("Re-apply…", self.overview.preview_apply))
        elif kind in ("config", "keyring"):
            level = "warning"
            if kind == "config" and self.controller.recovered_from is not None:
                actions.append(("Keep these settings", self.controller.keep_recovered))
        self.banner.show_message(level, message, actions, key=kind)

    def _images_check(self, log: RequestLogModel) -> None:
        # The first request with an image makes "cannot see images" worth saying.
        if log.images_seen and not self._images_noted:
            self._images_noted = True
            self.models.refresh()

    def _use_port(self, port: int) -> None:
        running = self.controller.running
        if self.controller.update(port=port) and not running:
            self.controller.start()

    def _state_changed(self, state: str) -> None:
        if state == "running":
            self.banner.clear("port")
        snapshot = self.controller.snapshot
        models = len([m for m in snapshot.models if m.kind != "embedding"])
        backends = len(self.backends.rows())
        self.where.setText(
            f"{self.controller.url} · {models} models on {backends} backends"
            if state == "running"
            else state.capitalize()
        )

    def _address_changed(self, url: str) -> None:
        self.overview.check_claude()

        def check(applied: str | None) -> None:
            if applied is not None and applied != url:
                self.show_problem(
                    "reapply",
                    f"The gateway moved to {url}, but Claude Code's settings still point at "
                    f"{applied}.",
                )

        self.controller.background.submit(claude_settings.applied_url, check)

    def _default_size(self) -> QSize:
        screen = self.screen()
        available = screen.availableGeometry().size() if screen is not None else None
        metrics = self.fontMetrics()
        return default_size(metrics.averageCharWidth(), metrics.lineSpacing(), available)

    # --- visibility ----------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._has_tray():
            event.ignore()
            self.hide()
            return
        event.accept()
        self._quit_app()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.controller.set_fast_refresh(True)

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.controller.set_fast_refresh(False)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.banner.follow_palette()
            for row, page in enumerate(self.pages):
                item = self.sidebar.item(row)
                if item is not None:
                    item.setIcon(section_icon(page.icon_name))  # type: ignore[attr-defined]
