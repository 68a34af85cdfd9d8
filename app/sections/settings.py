"""Settings: address and port, the gateway token (kept in the keyring), start at login, start
hidden, log level, body capture and auto mode's review. Everything is saved to the config file
`lmgate serve` reads.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.controller import MASK, GatewayController
from app.profiles import active_profile, delete_profile, save_profile, switch_profile
from app.sections.review_settings import ReviewBox
from app.signals import emit
from app.theme import THEMES
from gateway.autostart import Autostart

__all__ = ["SettingsPage"]

ADDRESSES = ("127.0.0.1", "::1", "0.0.0.0")
LOG_LEVELS = ("debug", "info", "warning", "error")


class SettingsPage(QWidget):
    title = "Settings"
    icon_name = "settings"

    def __init__(
        self,
        controller: GatewayController,
        autostart: Autostart,
        launch_command: Sequence[str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.autostart = autostart
        self.launch_command = list(launch_command)
        layout = QVBoxLayout(self)

        listen = QGroupBox("Gateway address")
        form = QFormLayout(listen)
        self.host = QComboBox()
        self.host.setEditable(True)
        self.host.addItems(list(ADDRESSES))
        self.host.setAccessibleName("Bind address")
        self.host.setMinimumContentsLength(24)
        self.host.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.host.setToolTip(
            "127.0.0.1: this machine only. 0.0.0.0: the network too (needs a token)"
        )
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setAccessibleName("Port")
        self.apply_address = QPushButton("Apply")
        self.apply_address.setObjectName("applyAddress")
        row = QHBoxLayout()
        row.addWidget(self.port)
        row.addWidget(self.apply_address)
        row.addStretch(1)
        host_row = QHBoxLayout()
        host_row.addWidget(self.host)
        host_row.addStretch(1)
        form.addRow("Listen on", host_row)
        form.addRow("Port", row)
        hint = QLabel("A change opens the new address first; requests in flight finish.")
        hint.setWordWrap(True)
        form.addRow(hint)
        layout.addWidget(listen)

        token = QGroupBox("Gateway token")
        token_layout = QVBoxLayout(token)
        row = QHBoxLayout()
        self.token = QLineEdit()
        self.token.setObjectName("tokenField")
        self.token.setReadOnly(True)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setAccessibleName("Gateway token")
        self.show_token = QPushButton("Show")
        self.show_token.setCheckable(True)
        self.copy_token = QPushButton("Copy")
        self.regenerate = QPushButton("Regenerate")
        self.remove_token = QPushButton("Remove")
        row.addWidget(self.token, 1)
        for button in (self.show_token, self.copy_token, self.regenerate, self.remove_token):
            row.addWidget(button)
        token_layout.addLayout(row)
        self.token_note = QLabel()
        self.token_note.setWordWrap(True)
        token_layout.addWidget(self.token_note)
        layout.addWidget(token)

        profiles = QGroupBox("Profiles")
        profile_row = QHBoxLayout(profiles)
        self.profile = QComboBox()
        self.profile.setObjectName("profileChoice")
        self.profile.setAccessibleName("Profile")
        self.profile.setMinimumContentsLength(16)
        self.switch_profile = QPushButton("Switch")
        self.save_profile = QPushButton("Save current as…")
        self.delete_profile = QPushButton("Delete")
        self.profile_note = QLabel()
        self.profile_note.setWordWrap(True)
        profile_row.addWidget(self.profile)
        for button in (self.switch_profile, self.save_profile, self.delete_profile):
            profile_row.addWidget(button)
        profile_row.addWidget(self.profile_note, 1)
        layout.addWidget(profiles)

        app = QGroupBox("App")
        app_form = QVBoxLayout(app)
        self.at_login = QCheckBox("Start LM Gate when I log in")
        self.at_login.setToolTip(autostart.location)
        self.hidden = QCheckBox("Start hidden in the tray (the window opens from the tray icon)")
        self.capture = QCheckBox(
            "Keep request and response bodies for the Requests page (newest 50, at most 20 MB)"
        )
        levels = QHBoxLayout()
        levels.addWidget(QLabel("Log level"))
        self.log_level = QComboBox()
        self.log_level.addItems(list(LOG_LEVELS))
        self.log_level.setAccessibleName("Log level")
        levels.addWidget(self.log_level)
        levels.addStretch(1)
        self.notifications = QCheckBox(
            "Tell me in the tray when a backend goes down or comes back, a model Claude Code "
            "needs is unloaded, or requests keep failing"
        )
        self.theme = QComboBox()
        self.theme.setAccessibleName("Appearance")
        for key, label in THEMES.items():
            self.theme.addItem(label, key)
        levels.insertWidget(0, QLabel("Appearance"))
        levels.insertWidget(1, self.theme)
        levels.insertSpacing(2, 16)
        for widget in (self.at_login, self.hidden, self.capture, self.notifications):
            app_form.addWidget(widget)
        app_form.addLayout(levels)
        layout.addWidget(app)

        self.review = ReviewBox(controller)
        layout.addWidget(self.review)

        self.path = QLabel()
        self.path.setWordWrap(True)
        self.path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.path)
        layout.addStretch(1)

        self.apply_address.clicked.connect(self.apply_address_change)
        self.show_token.toggled.connect(self._show_token)
        self.copy_token.clicked.connect(self._copy_token)
        self.regenerate.clicked.connect(controller.regenerate_token)
        self.remove_token.clicked.connect(controller.clear_token)
        self.at_login.toggled.connect(self._set_autostart)
        self.hidden.toggled.connect(lambda on: controller.update(start_hidden=on))
        self.capture.toggled.connect(lambda on: controller.update(capture_bodies=on))
        self.log_level.currentTextChanged.connect(lambda level: controller.update(log_level=level))
        self.switch_profile.clicked.connect(
            lambda: switch_profile(controller, self.profile.currentText())
        )
        self.save_profile.clicked.connect(self._ask_profile_name)
        self.delete_profile.clicked.connect(
            lambda: delete_profile(controller, self.profile.currentText())
        )
        self.notifications.toggled.connect(lambda on: controller.update(notifications=on))
        self.theme.currentIndexChanged.connect(
            lambda _: controller.update(theme=self.theme.currentData())
        )
        controller.config_changed.connect(self.refresh)
        controller.token_changed.connect(self.refresh)
        controller.state_changed.connect(self.refresh)
        self.refresh()
        controller.background.submit(autostart.enabled, self._show_autostart)

    def refresh(self, *_: object) -> None:
        c = self.controller
        config = c.config
        for widget in (self.hidden, self.capture, self.log_level, self.notifications, self.theme):
            widget.blockSignals(True)
        if not self.host.hasFocus():
            self.host.setCurrentText(config.host)
        if not self.port.hasFocus():
            self.port.setValue(c.live_config.port or config.port)
        self.hidden.setChecked(config.start_hidden)
        self.capture.setChecked(config.capture_bodies)
        self.log_level.setCurrentText(config.log_level.lower())
        self.notifications.setChecked(config.notifications)
        self.theme.setCurrentIndex(max(0, self.theme.findData(config.theme)))
        for widget in (self.hidden, self.capture, self.log_level, self.notifications, self.theme):
            widget.blockSignals(False)
        self._show_token(self.show_token.isChecked())
        for button in (self.copy_token, self.show_token, self.remove_token):
            button.setEnabled(bool(c.token))
        if c.keyring_problem:
            note = f"The keyring cannot be used: {c.keyring_problem}"
        elif c.token:
            note = "Clients must send this token. It is kept in the system keyring."
        else:
            note = (
                "No token: any program on this machine can use the gateway. Regenerate creates "
                "one (needed to listen on the network)."
            )
        self.token_note.setText(note)
        self.path.setText(f"Settings file: {c.config_path}")
        active = active_profile(config)
        shown = self.profile.currentText()
        self.profile.clear()
        self.profile.addItems(sorted(config.profiles))
        self.profile.setCurrentText(shown if shown in config.profiles else (active or ""))
        for button in (self.switch_profile, self.delete_profile):
            button.setEnabled(bool(config.profiles))
        self.profile_note.setText(
            f"In use: {active}"
            if active
            else "Save the backends and models in use as a profile, then switch in one click "
            "(here or in the tray)"
        )

    def _ask_profile_name(self) -> None:
        name, ok = QInputDialog.getText(self, "Save a profile", "Name (e.g. Local, Cloud, Off)")
        if ok and name.strip():
            save_profile(self.controller, name)
            self.profile.setCurrentText(name.strip())

    def apply_address_change(self) -> None:
        host = self.host.currentText().strip()
        self.controller.update(host=host, port=self.port.value())

    def _show_token(self, shown: bool) -> None:
        token = self.controller.token
        self.show_token.setText("Hide" if shown else "Show")
        if not token:
            self.token.setEchoMode(QLineEdit.EchoMode.Normal)
            self.token.setText("")
            self.token.setPlaceholderText("no token set")
            return
        self.token.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.token.setText(token if shown else MASK)

    def _copy_token(self) -> None:
        if self.controller.token:
            QGuiApplication.clipboard().setText(self.controller.token)

    def _show_autostart(self, enabled: bool) -> None:
        self.at_login.blockSignals(True)
        self.at_login.setChecked(enabled)
        self.at_login.blockSignals(False)

    def _set_autostart(self, on: bool) -> None:
        def work() -> bool:
            if on:
                self.autostart.enable(self.launch_command)
            else:
                self.autostart.disable()
            return self.autostart.enabled()

        def failed(exc: BaseException) -> None:
            emit(self.controller.problem_reported, "error", f"Start at login: {exc}")
            self.controller.background.submit(self.autostart.enabled, self._show_autostart)

        self.controller.background.submit(work, self._show_autostart, failed)
