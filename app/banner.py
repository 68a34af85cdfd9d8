"""A message strip above the window's pages: a problem or a notice, with the actions it offers
(use the next free port, re-apply Claude Code's settings…). Never a modal box: nothing waits."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QWidget,
)

from app.theme import palette_is_dark

__all__ = ["Banner"]

_COLOURS = {
    "error": ("#fff5f5", "#c92a2a", "#ffc9c9"),
    "warning": ("#fff9db", "#8a5a00", "#ffe066"),
    "info": ("#e7f5ff", "#1864ab", "#a5d8ff"),
}
# The same three on a dark window: a deep tint, a light text, a mid border.
_DARK_COLOURS = {
    "error": ("#3b1f22", "#ffa8a8", "#8f2d2d"),
    "warning": ("#3a3116", "#ffe08a", "#8a6d1a"),
    "info": ("#17293d", "#a5d8ff", "#2f5b87"),
}


class Banner(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.kind = ""
        self.key = ""
        self._painted_dark = False
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.text, 1)
        self._actions = QHBoxLayout()
        layout.addLayout(self._actions)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.setAccessibleName("Dismiss message")
        close.clicked.connect(self.dismiss)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(
        self,
        kind: str,
        text: str,
        actions: list[tuple[str, Callable[[], None]]] | None = None,
        *,
        key: str = "",
    ) -> None:
        """Show `text`; `key` names the situation so that it can be cleared when it is over."""
        self.kind, self.key = kind, key or kind
        self._paint()
        self.text.setText(text)
        while self._actions.count():
            item = self._actions.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for label, callback in actions or []:
            button = QPushButton(label)
            button.clicked.connect(lambda _=False, cb=callback: self._act(cb))
            self._actions.addWidget(button)
        self.show()

    def _paint(self) -> None:
        app = QApplication.instance()
        palette = app.palette() if isinstance(app, QApplication) else self.palette()
        colours = _DARK_COLOURS if palette_is_dark(palette) else _COLOURS
        background, foreground, border = colours.get(self.kind, colours["info"])
        self._painted_dark = colours is _DARK_COLOURS
        self.setStyleSheet(
            f"QFrame#banner {{ background: {background}; border: 1px solid {border}; "
            f"border-radius: 6px; }} QFrame#banner QLabel {{ color: {foreground}; }}"
        )

    def follow_palette(self) -> None:
        """After a switch between light and dark: the message in the new colours."""
        app = QApplication.instance()
        if self.kind and isinstance(app, QApplication):
            if palette_is_dark(app.palette()) != self._painted_dark:
                self._paint()

    def buttons(self) -> list[QPushButton]:
        found = []
        for i in range(self._actions.count()):
            item = self._actions.itemAt(i)
            widget = item.widget() if item is not None else None
            if isinstance(widget, QPushButton):
                found.append(widget)
        return found

    def clear(self, key: str) -> None:
        if self.isVisible() and self.key == key:
            self.dismiss()

    def dismiss(self) -> None:
        self.kind = self.key = ""
        self.hide()

    def _act(self, callback: Callable[[], None]) -> None:
        self.dismiss()
        callback()
