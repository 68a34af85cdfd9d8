"""The note an empty backend list shows: which servers are watched on which ports, how to start
one, and "Check now"."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from app.controller import GatewayController
from app.watching import any_backend_up, empty_html

__all__ = ["NoBackends", "check_now_button"]


def check_now_button(controller: GatewayController) -> QPushButton:
    button = QPushButton("Check now")
    button.setToolTip("Look for model servers now instead of at the next check")
    button.clicked.connect(controller.refresh_backends)
    return button


class NoBackends(QFrame):
    """Shown while no backend is up; hidden once one answers."""

    def __init__(
        self, controller: GatewayController, parent: QWidget | None = None, *, button: bool = True
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setObjectName("noBackends")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.check_now = check_now_button(controller)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.check_now, 0, Qt.AlignmentFlag.AlignTop)
        self.check_now.setVisible(button)  # a page with its own "Check now" shows one
        controller.catalogue_changed.connect(self.refresh)
        controller.config_changed.connect(self.refresh)
        controller.state_changed.connect(self.refresh)
        self.refresh()

    def refresh(self, *_: object) -> None:
        empty = not any_backend_up(self.controller.snapshot)
        if empty:
            self.text.setText(empty_html(self.controller.config))
        self.setVisible(empty)
