"""About: the version, where the settings and the log are kept, and where the docs are."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.controller import GatewayController
from app.icons import resources_dir
from gateway import __version__
from gateway.config import default_log_dir
from gateway.logfile import LOG_FILE_NAME

__all__ = ["AboutPage", "readme_path"]


def readme_path() -> Path | None:
    """README.md beside the packages (a source checkout or an archive that ships it)."""
    candidate = resources_dir().parent / "README.md"
    return candidate if candidate.is_file() else None


class AboutPage(QWidget):
    title = "About"
    icon_name = "about"

    def __init__(
        self,
        controller: GatewayController,
        log_dir: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.log_dir = log_dir or default_log_dir()
        layout = QVBoxLayout(self)
        name = QLabel(f"LM Gate {__version__}")
        name.setObjectName("aboutVersion")
        font = name.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        name.setFont(font)
        layout.addWidget(name)
        tagline = QLabel(
            "Runs Claude Code (and Claude Desktop) on local models: LM Studio, Ollama, llama.cpp "
            "and other servers, or a remote provider."
        )
        tagline.setWordWrap(True)
        layout.addWidget(tagline)
        layout.addSpacing(8)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.versions = QLabel(
            f"Python {platform.python_version()} · PySide6 {pyside_version} · {sys.platform}"
        )
        form.addRow("Built with", self.versions)
        self.config_path = self._path_row(form, "Settings file", controller.config_path)
        self.log_path = self._path_row(form, "Log file", self.log_dir / LOG_FILE_NAME)
        readme = readme_path()
        if readme is not None:
            url = QUrl.fromLocalFile(str(readme)).toString()
            docs = f'<a href="{url}">README.md</a>: setup, Claude Code, the settings, the CLI'
        else:
            docs = "README.md in LM Gate's source archive: setup, Claude Code, the settings"
        self.docs = QLabel(docs)
        self.docs.setTextFormat(Qt.TextFormat.RichText)
        self.docs.setOpenExternalLinks(True)
        self.docs.setWordWrap(True)
        form.addRow("Documentation", self.docs)
        cli = QLabel("<code>lmgate doctor</code> checks the setup; <code>lmgate --help</code>")
        cli.setTextFormat(Qt.TextFormat.RichText)
        form.addRow("From a terminal", cli)
        layout.addLayout(form)
        layout.addStretch(1)

    def _path_row(self, form: QFormLayout, label: str, path: Path) -> QLabel:
        text = QLabel(str(path))
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text.setWordWrap(True)
        button = QPushButton("Open folder")
        button.setAccessibleName(f"Open the folder of the {label.lower()}")
        button.clicked.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))
        )
        row = QHBoxLayout()
        row.addWidget(text, 1)
        row.addWidget(button)
        form.addRow(label, row)
        return text
