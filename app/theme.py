"""Light or dark: as the OS says (Qt 6's colour scheme) or as the user picks in Settings. Where
the style follows the OS itself (Windows 11, macOS, GNOME and KDE through their themes) its own
palette is kept; where it cannot (a bare X or Wayland session, the user's explicit pick against
the OS), a dark palette of our own is set, and the light one put back when it is no longer
wanted."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

__all__ = ["THEMES", "apply_theme", "dark_palette", "palette_is_dark"]

THEMES = {"system": "Same as the system", "light": "Light", "dark": "Dark"}
_OURS = "lmgate-dark-palette"


def palette_is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def dark_palette() -> QPalette:
    """Fusion's colours for a dark window, contrast checked against the sidebar's icons."""
    palette = QPalette()
    Role, Group = QPalette.ColorRole, QPalette.ColorGroup
    colours = {
        Role.Window: "#2b2d31",
        Role.WindowText: "#e9ecef",
        Role.Base: "#1e1f22",
        Role.AlternateBase: "#26282c",
        Role.ToolTipBase: "#3a3d42",
        Role.ToolTipText: "#f1f3f5",
        Role.PlaceholderText: "#8b9096",
        Role.Text: "#e9ecef",
        Role.Button: "#35373c",
        Role.ButtonText: "#e9ecef",
        Role.BrightText: "#ff6b6b",
        Role.Light: "#484b51",
        Role.Midlight: "#3d4045",
        Role.Mid: "#2f3136",
        Role.Dark: "#1a1b1e",
        Role.Shadow: "#000000",
        Role.Highlight: "#3b6fd4",
        Role.HighlightedText: "#ffffff",
        Role.Link: "#74a7ff",
        Role.LinkVisited: "#b197fc",
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role in (Role.WindowText, Role.Text, Role.ButtonText):
        palette.setColor(Group.Disabled, role, QColor("#6c7075"))
    palette.setColor(Group.Disabled, Role.Base, QColor("#26282c"))
    return palette


def apply_theme(app: QApplication, choice: str, os_scheme: Qt.ColorScheme | None = None) -> bool:
    """Make the app light or dark for `choice` ("system", "light", "dark"); True when dark."""
    scheme = app.styleHints().colorScheme() if os_scheme is None else os_scheme
    dark = choice == "dark" or (choice == "system" and scheme == Qt.ColorScheme.Dark)
    ours = bool(app.property(_OURS))
    style = app.style()
    native = style.standardPalette() if style is not None else QPalette()
    if dark:
        if not palette_is_dark(app.palette()):
            app.setPalette(dark_palette())
            app.setProperty(_OURS, True)
    elif ours or palette_is_dark(app.palette()):
        app.setPalette(native if not palette_is_dark(native) else QPalette())
        app.setProperty(_OURS, False)
    return dark
