"""Icons drawn from the SVG masters in `resources/` at whatever size is asked: sharp at any
scale. The tray icon's status badge and the section icons' colour are set when they are drawn."""

from __future__ import annotations

import re
import sys
from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QRect, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QIcon,
    QIconEngine,
    QPainter,
    QPalette,
    QPixmap,
)
from PySide6.QtSvg import QSvgRenderer

__all__ = [
    "STATE_COLOURS",
    "SvgIconEngine",
    "app_icon",
    "dark_theme",
    "dot_icon",
    "resources_dir",
    "section_icon",
    "tray_icon",
]

# Healthy, degraded (a routed backend down or its model not loaded), stopped, failed.
STATE_COLOURS = {
    "healthy": "#2f9e44",
    "degraded": "#f08c00",
    "stopped": "#868e96",
    "starting": "#868e96",
    "failed": "#e03131",
}
_SIZES = (16, 20, 22, 24, 32, 40, 48, 64, 96, 128, 256)
_STATUS = re.compile(r'(<circle class="status"[^>]*?fill=")#[0-9a-fA-F]{6}(")')


def resources_dir() -> Path:
    """`resources/` beside the packages, or inside a PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


@cache
def _master(name: str) -> str:
    return (resources_dir() / name).read_text(encoding="utf-8")


class SvgIconEngine(QIconEngine):
    """Renders one SVG document at the exact pixel size of every request."""

    def __init__(self, svg: str) -> None:
        super().__init__()
        self._svg = svg
        self._renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        if mode == QIcon.Mode.Disabled:
            painter.setOpacity(0.4)
        self._renderer.render(painter, QRectF(rect))

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pixmap = QPixmap(size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.paint(painter, QRect(0, 0, size.width(), size.height()), mode, state)
        painter.end()
        return pixmap

    def scaledPixmap(
        self, size: QSize, mode: QIcon.Mode, state: QIcon.State, scale: float
    ) -> QPixmap:
        pixmap = self.pixmap(size * scale, mode, state)
        pixmap.setDevicePixelRatio(scale)
        return pixmap

    def availableSizes(
        self, mode: QIcon.Mode = QIcon.Mode.Normal, state: QIcon.State = QIcon.State.Off
    ) -> list[QSize]:
        # Tray protocols that ship pixmaps (StatusNotifierItem) ask which sizes exist.
        return [QSize(s, s) for s in _SIZES]

    def clone(self) -> QIconEngine:
        return SvgIconEngine(self._svg)


def _icon(svg: str) -> QIcon:
    return QIcon(SvgIconEngine(svg))


def dark_theme() -> bool:
    """Whether the OS (or the palette, where the OS does not say) is in a dark theme."""
    app = QGuiApplication.instance()
    if not isinstance(app, QGuiApplication):
        return False
    scheme = app.styleHints().colorScheme()
    if scheme != Qt.ColorScheme.Unknown:
        return scheme == Qt.ColorScheme.Dark
    return app.palette().color(QPalette.ColorRole.Window).lightness() < 128


def app_icon() -> QIcon:
    return _icon(_master("lmgate.svg"))


def tray_icon(state: str, *, dark: bool | None = None) -> QIcon:
    """The tray glyph for the panel's theme, with the badge in the colour of `state`."""
    dark = dark_theme() if dark is None else dark
    svg = _master("lmgate-dark.svg" if dark else "lmgate-light.svg")
    colour = STATE_COLOURS.get(state, STATE_COLOURS["failed"])
    return _icon(_STATUS.sub(rf"\g<1>{colour}\g<2>", svg, count=1))


def section_icon(name: str, colour: QColor | str | None = None) -> QIcon:
    """A sidebar icon, stroked in the palette's text colour unless told otherwise."""
    if colour is None:
        app = QGuiApplication.instance()
        palette = app.palette() if isinstance(app, QGuiApplication) else QPalette()
        colour = palette.color(QPalette.ColorRole.WindowText)
    name_colour = colour.name() if isinstance(colour, QColor) else colour
    return _icon(_master(f"icons/{name}.svg").replace("currentColor", name_colour))


def dot_icon(colour: str) -> QIcon:
    """A status light for tables and labels."""
    return _icon(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
        f'<circle cx="8" cy="8" r="5.5" fill="{colour}"/></svg>'
    )
