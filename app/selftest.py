"""The desktop half of `lmgate self-test`: the window and the tray built offscreen, every section
drawn, every icon rendered from its SVG master. A build that lacks a Qt plugin, QtSvg or the
resources fails here instead of on the user's desktop."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QCoreApplication, QLibraryInfo, QSize
from PySide6.QtGui import QFontDatabase, QIcon, QImage
from PySide6.QtWidgets import QApplication

from gateway.config import ConfigLoad, GatewayConfig
from gateway.selftest import Check, process_age

__all__ = ["checks", "drawn"]

_MASTERS = ("lmgate.svg", "lmgate-light.svg", "lmgate-dark.svg")


def checks() -> list[Check]:
    """Qt, fonts, icons, then the window with each section and the tray."""
    if QApplication.instance() is None:
        # Offscreen always: the self-test must never flash a window on the user's screen.
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    started = time.perf_counter()
    app = QApplication.instance() or QApplication(["lmgate", "self-test"])
    assert isinstance(app, QApplication)
    found = [_qt(app), _fonts(), _icons()]
    with tempfile.TemporaryDirectory(prefix="lmgate-self-test-") as folder:
        found += _desktop(app, Path(folder), started)
    return found


def drawn(image: QImage) -> bool:
    """Whether an image has something on it: more than one colour, or any opaque pixel."""
    if image.isNull() or image.width() == 0 or image.height() == 0:
        return False
    small = image.scaled(QSize(48, 48)).convertToFormat(QImage.Format.Format_ARGB32)
    colours = {small.pixel(x, y) for x in range(small.width()) for y in range(small.height())}
    return len(colours) > 1 or any((c >> 24) & 0xFF for c in colours)


def _qt(app: QApplication) -> Check:
    platform = app.platformName()
    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    detail = f"PySide6 {pyside_version}, platform plugin {platform!r}, plugins in {plugins}"
    return Check("qt", platform == "offscreen" or bool(platform), detail)


def _fonts() -> Check:
    families = QFontDatabase.families()
    if not families:
        return Check("fonts", False, "no font found: every label would be empty boxes")
    return Check("fonts", True, f"{len(families)} font families")


def _icons() -> Check:
    from app.icons import STATE_COLOURS, app_icon, resources_dir, section_icon, tray_icon

    folder = resources_dir()
    missing = [name for name in _MASTERS if not (folder / name).is_file()]
    if missing:
        return Check("icons", False, f"missing in {folder}: {', '.join(missing)}")
    icons: dict[str, QIcon] = {"app": app_icon()}
    icons |= {f"tray {state}": tray_icon(state) for state in STATE_COLOURS}
    names = sorted(p.stem for p in (folder / "icons").glob("*.svg"))
    icons |= {f"section {name}": section_icon(name, "#000000") for name in names}
    blank = [label for label, icon in icons.items() if not drawn(icon.pixmap(32).toImage())]
    if blank or not names:
        return Check("icons", False, f"drew nothing for: {', '.join(blank) or 'section icons'}")
    return Check("icons", True, f"{len(icons)} icons drawn from the SVG masters in {folder}")


def _desktop(app: QApplication, folder: Path, started: float) -> list[Check]:
    from app.desktop import Desktop

    config = GatewayConfig(port=0, discover=False)
    loaded = ConfigLoad(config=config, path=folder / "config.toml")
    try:
        desktop = Desktop(loaded, quit_app=lambda: None, tray_available=False)
    except Exception as exc:
        return [Check("window", False, f"could not be built: {type(exc).__name__}: {exc}")]
    try:
        window = desktop.window
        window.show()
        app.processEvents()
        shown = time.perf_counter() - started
        age = process_age()
        timing = f"shown {shown * 1000:.0f} ms after Qt started"
        if age is not None:
            timing += f", {age * 1000:.0f} ms after the process started"
        found = [Check("window", window.isVisible(), f"{window.windowTitle()!r} {timing}")]
        rendered: list[str] = []
        blank: list[str] = []
        for page in window.pages:
            title = str(getattr(page, "title", type(page).__name__))
            window.show_section(title)
            app.processEvents()
            image = page.grab().toImage()
            size = f"{title} {image.width()}×{image.height()}"
            (rendered if drawn(image) else blank).append(size)
        if blank:
            found.append(Check("sections", False, f"drew nothing: {', '.join(blank)}"))
        else:
            found.append(Check("sections", True, f"{len(rendered)} drawn: {', '.join(rendered)}"))
        desktop.tray.rebuild()
        actions = [a.text() for a in desktop.tray.menu.actions() if a.text()]
        tray_ok = not desktop.tray.icon.icon().isNull() and bool(actions)
        found.append(Check("tray", tray_ok, f"icon set, menu of {len(actions)} entries"))
        return found
    finally:
        desktop.window.hide()
        desktop.shutdown()
        QCoreApplication.sendPostedEvents()
