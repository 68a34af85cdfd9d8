"""Overview: the gateway's state and address, where requests go, the export line for the user's
shell, and "Apply to Claude Code" and "Apply to Claude Desktop" (preview, write, restore)."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.controller import GatewayController
from app.dialogs import DiffDialog
from app.icons import STATE_COLOURS, dot_icon
from app.model_advice import routed
from app.sections.empty import NoBackends
from app.signals import emit
from gateway import claude_desktop, claude_settings
from gateway.envline import SHELLS, default_shell

__all__ = ["OverviewPage"]


class OverviewPage(QWidget):
    title = "Overview"
    icon_name = "overview"
    claude_changed = Signal(str)  # a message after Claude Code's settings were written
    desktop_changed = Signal(str)  # a message after Claude Desktop's configuration was written

    def __init__(self, controller: GatewayController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.dialog: DiffDialog | None = None
        self.applied_url: str | None = None
        layout = QVBoxLayout(self)

        gateway = QGroupBox("Gateway")
        grid = QVBoxLayout(gateway)
        row = QHBoxLayout()
        self.light = QLabel()
        self.state = QLabel()
        self.state.setObjectName("stateLabel")
        font = self.state.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.state.setFont(font)
        self.start_stop = QPushButton("Stop")
        self.start_stop.setObjectName("startStop")
        self.start_stop.clicked.connect(self._toggle)
        row.addWidget(self.light)
        row.addWidget(self.state, 1)
        row.addWidget(self.start_stop)
        grid.addLayout(row)
        self.url = QLabel()
        self.url.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.routes = QLabel()
        self.routes.setWordWrap(True)
        self.routes.setTextFormat(Qt.TextFormat.RichText)
        grid.addWidget(self.url)
        grid.addWidget(self.detail)
        grid.addWidget(self.routes)
        layout.addWidget(gateway)
        self.empty = NoBackends(controller)
        layout.addWidget(self.empty)

        connect = QGroupBox("Connect Claude Code")
        box = QVBoxLayout(connect)
        intro = QLabel("Paste this into the shell where you run <code>claude</code>:")
        intro.setTextFormat(Qt.TextFormat.RichText)
        shells = QHBoxLayout()
        shells.addWidget(intro, 1)
        shells.addWidget(QLabel("Shell"))
        self.shell = QComboBox()
        self.shell.addItems(list(SHELLS))
        self.shell.setCurrentText(default_shell())
        self.shell.setAccessibleName("Shell for the export line")
        shells.addWidget(self.shell)
        self.copy = QPushButton("Copy")
        self.copy.setObjectName("copyExport")
        self.copy.setToolTip("Copies the lines with the real token")
        shells.addWidget(self.copy)
        box.addLayout(shells)
        self.export = QPlainTextEdit()
        self.export.setObjectName("exportLine")
        self.export.setReadOnly(True)
        self.export.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.export.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.export.setAccessibleName("Export line")
        metrics = self.export.fontMetrics()
        self.export.setFixedHeight(metrics.lineSpacing() * 8 + 14)
        box.addWidget(self.export)
        or_label = QLabel(
            "Or keep them in Claude Code's user settings, so every <code>claude</code> uses "
            "LM Gate (the token is fetched by <code>lmgate token</code>, never written):"
        )
        or_label.setTextFormat(Qt.TextFormat.RichText)
        or_label.setWordWrap(True)
        box.addWidget(or_label)
        actions = QHBoxLayout()
        self.apply = QPushButton("Apply to Claude Code…")
        self.apply.setObjectName("applyClaude")
        self.restore = QPushButton("Restore…")
        self.restore.setObjectName("restoreClaude")
        self.claude_status = QLabel()
        self.claude_status.setWordWrap(True)
        actions.addWidget(self.apply)
        actions.addWidget(self.restore)
        actions.addWidget(self.claude_status, 1)
        box.addLayout(actions)
        desktop_row = QHBoxLayout()
        self.apply_desktop = QPushButton("Apply to Claude Desktop…")
        self.apply_desktop.setObjectName("applyClaudeDesktop")
        self.apply_desktop.setToolTip(
            "Adds LM Gate as a third-party inference configuration in Claude Desktop"
        )
        self.restore_desktop = QPushButton("Restore…")
        self.restore_desktop.setObjectName("restoreClaudeDesktop")
        self.desktop_status = QLabel()
        self.desktop_status.setWordWrap(True)
        desktop_row.addWidget(self.apply_desktop)
        desktop_row.addWidget(self.restore_desktop)
        desktop_row.addWidget(self.desktop_status, 1)
        box.addLayout(desktop_row)
        layout.addWidget(connect)
        layout.addStretch(1)

        self.shell.currentTextChanged.connect(self.refresh)
        self.copy.clicked.connect(self.copy_export)
        self.apply.clicked.connect(self.preview_apply)
        self.restore.clicked.connect(self.preview_restore)
        self.apply_desktop.clicked.connect(self.preview_desktop_apply)
        self.restore_desktop.clicked.connect(self.preview_desktop_restore)
        for signal in (
            controller.state_changed,
            controller.config_changed,
            controller.token_changed,
            controller.catalogue_changed,
        ):
            signal.connect(self.refresh)
        self.refresh()
        self.check_claude()
        self.check_desktop()

    def refresh(self, *_: object) -> None:
        c = self.controller
        health = c.health()
        self.light.setPixmap(dot_icon(STATE_COLOURS.get(health, "#868e96")).pixmap(20, 20))
        self.state.setText(c.status_text())
        self.start_stop.setText("Stop" if c.state == "running" else "Start")
        self.start_stop.setEnabled(c.state in ("running", "stopped", "failed"))
        listening = "Listening on" if c.running else "Address:"
        self.url.setText(f"{listening} <b>{html.escape(c.url)}</b>")
        self.detail.setText(c.error or "")
        self.detail.setVisible(bool(c.error))
        self.routes.setText(self._routes_html())
        try:
            text = c.export_line(self.shell.currentText(), reveal=False)
        except ValueError as exc:
            text = f"# {exc}"
        self.export.setPlainText(text)

    def _routes_html(self) -> str:
        c = self.controller
        lines = []
        labels = [("big", "Sonnet" + ("" if c.config.opus else " and Opus")), ("small", "Haiku")]
        if c.config.opus:
            labels.insert(1, ("opus", "Opus"))
        for role, label in labels:
            route = routed(role, c.config, c.snapshot)
            where = (
                f"<b>{html.escape(route.model)}</b> on {html.escape(route.backend_id)}"
                if route
                else "<i>no model yet</i>"
            )
            lines.append(f"{label} → {where}")
        return "<br>".join(lines)

    def copy_export(self) -> None:
        text = self.controller.export_line(self.shell.currentText(), reveal=True)
        QGuiApplication.clipboard().setText(text)
        self.claude_status.setText("Copied. Paste it into your shell, then run claude.")

    def _toggle(self) -> None:
        if self.controller.state == "running":
            self.controller.stop()
        else:
            self.controller.start()

    # --- Claude Code's settings ---------------------------------------------------------------

    def check_claude(self) -> None:
        self.controller.background.submit(claude_settings.applied_url, self._show_applied)

    def _show_applied(self, url: str | None) -> None:
        self.applied_url = url
        self.restore.setEnabled(url is not None)
        if url is None:
            text = "Not applied."
        elif url == self.controller.url:
            text = f"Applied: Claude Code uses {url}."
        else:
            text = f"Applied with {url}, but the gateway is now at {self.controller.url}."
        self.claude_status.setText(text)

    def preview_apply(self) -> None:
        c = self.controller
        config, token_set, window = c.live_config, bool(c.token), c.big_context_window()
        self._preview(
            lambda: claude_settings.plan_apply(
                config, token_set=token_set, auto_compact_window=window
            )
        )

    def preview_restore(self) -> None:
        self._preview(claude_settings.plan_restore)

    def _preview(self, make_plan: object) -> None:
        self.apply.setEnabled(False)
        self.controller.background.submit(make_plan, self._show_plan, self._failed)  # type: ignore[arg-type]

    def _show_plan(self, plan: claude_settings.SettingsChange) -> None:
        self.apply.setEnabled(True)
        self.dialog = DiffDialog(plan, self)
        self.dialog.accepted.connect(lambda: self._write(plan))
        self.dialog.open()

    def _write(self, plan: claude_settings.SettingsChange) -> None:
        def written(_: None) -> None:
            self.check_claude()
            if plan.action == "apply":
                message = f"Claude Code now uses LM Gate at {self.controller.url} (new sessions)"
            else:
                message = "Claude Code's settings are back as they were"
            self.claude_status.setText(message)
            emit(self.claude_changed, message)

        self.controller.background.submit(
            lambda: claude_settings.write(plan), written, self._failed
        )

    def _failed(self, exc: BaseException) -> None:
        self.apply.setEnabled(True)
        self.apply_desktop.setEnabled(True)
        emit(self.controller.problem_reported, "error", str(exc))

    # --- Claude Desktop's configuration -------------------------------------------------------

    def check_desktop(self) -> None:
        self.controller.background.submit(claude_desktop.applied_url, self._show_desktop)

    def _show_desktop(self, url: str | None) -> None:
        self.restore_desktop.setEnabled(url is not None)
        if url is None:
            text = "Claude Desktop: not applied."
        elif url == self.controller.url:
            text = f"Applied: Claude Desktop uses {url}."
        else:
            now = self.controller.url
            text = f"Applied to Claude Desktop with {url}, but the gateway is now at {now}."
        self.desktop_status.setText(text)

    def preview_desktop_apply(self) -> None:
        config, token = self.controller.live_config, self.controller.token
        self.apply_desktop.setEnabled(False)
        self.controller.background.submit(
            lambda: claude_desktop.plan_apply(config, token=token),
            self._show_desktop_plan,
            self._failed,
        )

    def preview_desktop_restore(self) -> None:
        self.apply_desktop.setEnabled(False)
        self.controller.background.submit(
            claude_desktop.plan_restore, self._show_desktop_plan, self._failed
        )

    def _show_desktop_plan(self, plan: claude_desktop.DesktopChange) -> None:
        self.apply_desktop.setEnabled(True)
        self.dialog = DiffDialog(plan, self)
        self.dialog.accepted.connect(lambda: self._write_desktop(plan))
        self.dialog.open()

    def _write_desktop(self, plan: claude_desktop.DesktopChange) -> None:
        def written(_: None) -> None:
            self.check_desktop()
            if plan.action == "apply":
                message = f"Claude Desktop now uses LM Gate at {self.controller.url} (relaunch it)"
            else:
                message = "Claude Desktop's configuration is back as it was"
            self.desktop_status.setText(message)
            emit(self.desktop_changed, message)

        self.controller.background.submit(lambda: claude_desktop.write(plan), written, self._failed)
