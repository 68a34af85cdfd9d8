"""The window's dialogs: the preview of a change to Claude Code's settings or Claude Desktop's
config library, and the form that adds or edits a remote provider (its key goes to the
keyring, its test runs off the GUI thread)."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Protocol

import httpx
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.background import Background
from gateway.backends.connection import connection_for
from gateway.backends.presets import PRESETS
from gateway.claude_desktop import DesktopChange
from gateway.claude_settings import SettingsChange
from gateway.config import BackendConfig

__all__ = ["BackendDialog", "DiffDialog", "probe_provider"]


class DiffPlan(Protocol):
    @property
    def action(self) -> str: ...

    def diff(self) -> str: ...


class DiffDialog(QDialog):
    """Shows the exact change to the settings file; Apply accepts."""

    def __init__(self, plan: DiffPlan, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plan = plan
        verb = "Apply to" if plan.action == "apply" else "Restore"
        title, text = _describe(plan)
        self.setWindowTitle(f"{verb} {title}")
        layout = QVBoxLayout(self)
        intro = QLabel(text)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.view = QTextEdit()
        self.view.setReadOnly(True)
        self.view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.view.setLineWrapMode(QTextEdit.LineWrapMode.NoWrap)
        self.view.setHtml(_diff_html(plan.diff() or "(no change)"))
        layout.addWidget(self.view, 1)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Apply | QDialogButtonBox.StandardButton.Cancel
        )
        apply = self.buttons.button(QDialogButtonBox.StandardButton.Apply)
        apply.setText("Apply" if plan.action == "apply" else "Restore")
        apply.setDefault(True)
        apply.clicked.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.resize(760, 460)


def _describe(plan: DiffPlan) -> tuple[str, str]:
    """What the change is to, and the sentence above the diff."""
    if isinstance(plan, DesktopChange):
        where = html.escape(str(plan.library))
        if plan.action == "apply":
            return "Claude Desktop's configuration", (
                f"LM Gate will add its configuration to <b>{where}</b> and make it the applied "
                "one, as shown. The index is recorded beside the folder, so Restore puts it back "
                "byte for byte. Relaunch Claude Desktop afterwards."
            )
        return "Claude Desktop's configuration", (
            f"LM Gate will take its configuration out of <b>{where}</b> and put the index back "
            "as it was. Relaunch Claude Desktop afterwards."
        )
    path = html.escape(str(plan.path)) if isinstance(plan, SettingsChange) else ""
    if plan.action == "apply":
        return "Claude Code's settings", (
            f"LM Gate will change <b>{path}</b> as shown. What it replaces is recorded beside "
            "it, so Restore can put it back; your other settings stay."
        )
    return "Claude Code's settings", (
        f"LM Gate will put back what it replaced in <b>{path}</b>. Values you changed yourself "
        "since are kept."
    )


def _diff_html(diff: str) -> str:
    rows = []
    for line in diff.splitlines():
        colour = {"+": "#2b8a3e", "-": "#c92a2a", "@": "#5c7cfa"}.get(line[:1], "")
        text = html.escape(line) or "&nbsp;"
        rows.append(f'<span style="color:{colour}">{text}</span>' if colour else text)
    return "<pre>" + "<br>".join(rows) + "</pre>"


def probe_provider(backend: BackendConfig, api_key: str | None, timeout: float = 10.0) -> str:
    """GET the provider's model list (blocking: call it on a worker). Returns a summary;
    raises with a readable message when it fails."""
    connection = connection_for(backend)
    headers = dict(connection.headers)
    if api_key:
        headers[connection.auth_header] = connection.auth_value(api_key)
    url = connection.url.rstrip("/") + "/models"
    try:
        response = httpx.get(url, headers=headers, params=connection.params, timeout=timeout)
    except httpx.TimeoutException:
        raise RuntimeError(f"{url} did not answer within {timeout:.0f} s") from None
    except httpx.HTTPError as exc:
        raise RuntimeError(f"{url} cannot be reached: {exc}") from None
    if response.status_code in (401, 403):
        raise RuntimeError(f"the provider refused the key (HTTP {response.status_code})")
    if response.status_code >= 400:
        raise RuntimeError(f"{url} answered HTTP {response.status_code}")
    try:
        data = response.json().get("data")
    except (ValueError, AttributeError):
        data = None
    if not isinstance(data, list):
        raise RuntimeError(f"{url} did not answer with a model list")
    return f"OK: {len(data)} models listed"


class BackendDialog(QDialog):
    """Add or edit a remote provider: preset, id, URL and API key, with a Test button."""

    def __init__(
        self,
        background: Background,
        existing: BackendConfig | None = None,
        parent: QWidget | None = None,
        *,
        tester: Callable[[BackendConfig, str | None], str] = probe_provider,
    ) -> None:
        super().__init__(parent)
        self.background = background
        self._tester = tester
        self.setWindowTitle("Edit provider" if existing else "Add a remote provider")
        form = QFormLayout(self)
        self.preset = QComboBox()
        for preset in PRESETS.values():
            self.preset.addItem(preset.display_name, preset.id)
        self.name = QLineEdit()
        self.name.setPlaceholderText("a short id, e.g. openrouter")
        self.url = QLineEdit()
        self.key = QLineEdit()
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("kept in the system keyring, never in a file")
        self.test = QPushButton("Test")
        self.outcome = QLabel()
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Provider", self.preset)
        form.addRow("Name", self.name)
        form.addRow("Base URL", self.url)
        form.addRow("API key", self.key)
        form.addRow(self.test, self.outcome)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.preset.currentIndexChanged.connect(self._preset_chosen)
        self.test.clicked.connect(self.run_test)
        if existing is not None:
            index = self.preset.findData(existing.kind)
            self.preset.setCurrentIndex(max(index, 0))
            self.name.setText(existing.id)
            self.url.setText(existing.url or "")
        else:
            self._preset_chosen()
        self.resize(520, self.sizeHint().height())

    def backend(self) -> BackendConfig:
        kind = str(self.preset.currentData())
        name = self.name.text().strip() or kind
        return BackendConfig(id=name, kind=kind, url=self.url.text().strip() or None)

    def api_key(self) -> str | None:
        return self.key.text().strip() or None

    def run_test(self) -> None:
        self.test.setEnabled(False)
        self.outcome.setText("Testing…")
        try:
            backend = self.backend()
        except ValueError as exc:
            self._tested(None, exc)
            return
        self.background.submit(
            lambda: self._tester(backend, self.api_key()),
            lambda summary: self._tested(summary, None),
            lambda exc: self._tested(None, exc),
        )

    def _tested(self, summary: str | None, error: BaseException | None) -> None:
        self.test.setEnabled(True)
        self.outcome.setText(f"Failed: {error}" if error is not None else summary or "")

    def _preset_chosen(self) -> None:
        preset = PRESETS.get(str(self.preset.currentData()))
        if preset is None:
            return
        self.url.setText(preset.base_url or "")
        self.url.setPlaceholderText(preset.url_hint or "")
        if not self.name.text() or self.name.text() in PRESETS:
            self.name.setText(preset.id)

    def _accept(self) -> None:
        try:
            backend = self.backend()
            connection_for(backend)
        except ValueError as exc:
            self.outcome.setText(str(exc))
            return
        self.accept()
