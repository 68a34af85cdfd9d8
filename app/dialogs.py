"""The window's dialogs: the preview of a change to Claude Code's settings or Claude Desktop's
config library, and the form that adds or edits a remote provider (its key goes to the keyring,
or to an environment variable when there is no keyring; its test runs off the GUI thread)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Protocol

import httpx
from PySide6.QtCore import Qt, Signal
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
from app.signals import emit
from gateway.backends.connection import connection_for
from gateway.backends.presets import PRESETS
from gateway.claude_desktop import DesktopChange
from gateway.claude_settings import SettingsChange
from gateway.config import BackendConfig
from gateway.keystore import INDEX_NAME, TOKEN_NAME, KeyringUnavailable

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


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def key_variable(backend_id: str) -> str:
    """The environment variable suggested for a provider's key: OPENAI_API_KEY for `openai`."""
    stem = re.sub(r"[^A-Z0-9]+", "_", backend_id.upper()).strip("_") or "PROVIDER"
    return f"{'_' if stem[0].isdigit() else ''}{stem}_API_KEY"


def keyring_reason(error: KeyringUnavailable) -> str:
    """Why the keyring refused, in plain words (the technical message goes in a tooltip)."""
    if error.message.startswith("no secure keyring"):
        return "this computer has no keyring to keep it in (no Secret Service is running)"
    return "the keyring did not answer (it may be locked, or its prompt was dismissed)"


class BackendDialog(QDialog):
    """Add or edit a remote provider: preset, id, URL and API key, with a Test button.

    Save stores the key in the keyring first (`store_key`, on a worker) and closes only once it
    is there. When the keyring cannot keep it, the dialog stays open with what was typed, says
    why, and offers the key's other home: an environment variable (`api_key_env`)."""

    keyring_refused = Signal(str)  # the keyring's own message, when it could not keep the key

    def __init__(
        self,
        background: Background,
        existing: BackendConfig | None = None,
        parent: QWidget | None = None,
        *,
        tester: Callable[[BackendConfig, str | None], str] = probe_provider,
        store_key: Callable[[str, str], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.background = background
        self._tester = tester
        self._store_key = store_key
        self._suggested = ""  # the variable name last suggested, replaced while untouched
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
        self.key_env = QLineEdit()
        self.key_env.setObjectName("keyVariable")
        self.key_env.setPlaceholderText("e.g. OPENAI_API_KEY")
        self.key_env_hint = QLabel()
        self.key_env_hint.setWordWrap(True)
        self.key_env_hint.setTextFormat(Qt.TextFormat.RichText)
        self.test = QPushButton("Test")
        self.outcome = QLabel()
        self.outcome.setObjectName("dialogOutcome")
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Provider", self.preset)
        form.addRow("Name", self.name)
        form.addRow("Base URL", self.url)
        form.addRow("API key", self.key)
        form.addRow("Key variable", self.key_env)
        form.addRow(self.key_env_hint)
        form.addRow(self.test, self.outcome)
        self._form = form
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.preset.currentIndexChanged.connect(self._preset_chosen)
        self.test.clicked.connect(self.run_test)
        self.key_env.textChanged.connect(self._describe_variable)
        self.key.textChanged.connect(self._describe_variable)
        self.name.textChanged.connect(self._suggest_variable)
        if existing is not None:
            index = self.preset.findData(existing.kind)
            self.preset.setCurrentIndex(max(index, 0))
            self.name.setText(existing.id)
            self.url.setText(existing.url or "")
        else:
            self._preset_chosen()
        self.show_key_variable(existing.api_key_env if existing is not None else None)
        self.resize(520, self.sizeHint().height())

    def backend(self) -> BackendConfig:
        kind = str(self.preset.currentData())
        name = self.name.text().strip() or kind
        if name in (TOKEN_NAME, INDEX_NAME):
            # The key is kept under the provider's name, next to these.
            raise ValueError(f"'{name}' is a name LM Gate keeps for itself: choose another")
        variable = self.key_variable()
        if variable is not None and not _ENV_NAME.fullmatch(variable):
            raise ValueError(
                f"'{variable}' cannot be an environment variable's name: use letters, digits "
                "and _, not starting with a digit"
            )
        return BackendConfig(
            id=name, kind=kind, url=self.url.text().strip() or None, api_key_env=variable
        )

    def api_key(self) -> str | None:
        return self.key.text().strip() or None

    def key_variable(self) -> str | None:
        """The environment variable that holds the key, when that route is chosen."""
        if not self.key_env.isVisibleTo(self):
            return None
        return self.key_env.text().strip() or None

    def session_key(self) -> str | None:
        """The key typed, when no keyring holds it: used until the app quits."""
        return self.api_key() if self.key_variable() is not None else None

    def show_key_variable(self, name: str | None) -> None:
        """Show (a name) or hide (None) the environment-variable route for the key."""
        shown = name is not None
        for widget in (self.key_env, self.key_env_hint):
            widget.setVisible(shown)
        label = self._form.labelForField(self.key_env)
        if label is not None:
            label.setVisible(shown)
        if shown:
            self.key_env.setText(name or "")
            self.save.setText("Save with the variable")
            self._describe_variable()
        else:
            self.save.setText("Save")

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

    def _suggest_variable(self, name: str) -> None:
        # Follows the name until the user types a variable of their own.
        current = self.key_env.text().strip()
        if self.key_env.isVisibleTo(self) and (not current or current == self._suggested):
            self.key_env.setText(key_variable(name.strip() or "provider"))
        self._suggested = key_variable(name.strip() or "provider")

    def _describe_variable(self, *_: object) -> None:
        name = html.escape(self.key_env.text().strip() or "NAME")
        typed = " Until LM Gate quits, the key you typed above is used." if self.api_key() else ""
        self.key_env_hint.setText(
            f"LM Gate reads the key from <code>{name}</code> when it starts. Set it where LM "
            f"Gate starts, e.g. add <code>export {name}=…</code> to <code>~/.profile</code>, "
            f"or use your system's environment settings.{typed}"
        )

    def _accept(self) -> None:
        try:
            backend = self.backend()
            connection_for(backend)
        except ValueError as exc:
            self.outcome.setText(str(exc))
            return
        key = self.api_key()
        if backend.api_key_env is not None or key is None or self._store_key is None:
            self.accept()
            return
        store = self._store_key
        self._busy(True)
        self.outcome.setText("Saving the key in the keyring…")
        self.background.submit(
            lambda: store(backend.id, key), lambda _: self._stored(), self._not_stored
        )

    def _stored(self) -> None:
        self._busy(False)
        if not self.isVisible():
            return  # cancelled while the keyring was busy: nothing is added
        self.outcome.setText("")
        self.accept()

    def _not_stored(self, error: BaseException) -> None:
        self._busy(False)
        if not isinstance(error, KeyringUnavailable):
            self.outcome.setText(f"The API key can't be saved: {error}")
            return
        self.outcome.setText(
            f"The API key can't be saved: {keyring_reason(error)}. Nothing you typed is lost. "
            "Instead, LM Gate can read the key from an environment variable: check its name "
            "below and press Save again."
        )
        message = error.message
        self.outcome.setToolTip(message)
        self.show_key_variable(key_variable(self.name.text().strip() or "provider"))
        self._suggested = self.key_env.text()
        self.key_env.setFocus()
        emit(self.keyring_refused, message)

    def _busy(self, busy: bool) -> None:
        for widget in (self.save, self.test, self.preset, self.name, self.url, self.key):
            widget.setEnabled(not busy)
