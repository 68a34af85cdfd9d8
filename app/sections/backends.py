"""Backends: every server the gateway knows (found on this machine or added by the user) with its
status, version, latency, protocol and model count; add or edit a remote provider."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.controller import GatewayController
from app.dialogs import BackendDialog
from app.icons import STATE_COLOURS, dot_icon
from app.sections.empty import NoBackends, check_now_button
from app.sections.tables import read_only_table
from gateway.backends.catalogue import BackendInfo

__all__ = ["BackendsPage"]

COLUMNS = ("Backend", "Kind", "URL", "Version", "Latency", "Protocol", "Models", "Source")
_LIGHTS = {"up": STATE_COLOURS["healthy"], "down": STATE_COLOURS["failed"]}


class BackendsPage(QWidget):
    title = "Backends"
    icon_name = "backends"

    def __init__(self, controller: GatewayController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.dialog: BackendDialog | None = None
        layout = QVBoxLayout(self)
        intro = QLabel(
            "LM Studio, Ollama, llama.cpp and the other local servers are found by themselves. "
            "Add a remote provider to use its models too."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.empty = NoBackends(controller, button=False)
        layout.addWidget(self.empty)
        self.table = read_only_table(COLUMNS, "backendTable")
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table, 1)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        layout.addWidget(self.problem)
        buttons = QHBoxLayout()
        self.add = QPushButton("Add remote provider…")
        self.edit = QPushButton("Edit…")
        self.remove = QPushButton("Remove")
        self.refresh_now = check_now_button(controller)
        for button in (self.add, self.edit, self.remove):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_now)
        layout.addLayout(buttons)
        self.add.clicked.connect(lambda: self.open_dialog(None))
        self.edit.clicked.connect(self._edit_selected)
        self.remove.clicked.connect(self._remove_selected)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _: self._edit_selected())
        controller.catalogue_changed.connect(self.refresh)
        controller.config_changed.connect(self.refresh)
        self.refresh()

    def rows(self) -> list[BackendInfo]:
        """The catalogue's backends, plus configured ones it does not list yet."""
        snapshot = self.controller.snapshot
        known = {b.id for b in snapshot.backends}
        pending = [
            BackendInfo(b.id, b.kind, b.url or "", "unknown")
            for b in self.controller.config.backends
            if b.id not in known
        ]
        return [*snapshot.backends, *pending]

    def refresh(self, *_: object) -> None:
        snapshot = self.controller.snapshot
        configured = {b.id for b in self.controller.config.backends}
        selected = self._selected_id()
        self.table.setRowCount(0)
        problems = []
        for info in self.rows():
            row = self.table.rowCount()
            self.table.insertRow(row)
            count = len([m for m in snapshot.models_of(info.id) if m.kind != "embedding"])
            source = "added" if info.id in configured else ("found" if info.discovered else "")
            cells = (
                info.display_name or info.id,
                info.kind,
                info.url,
                info.version or "—",
                f"{info.latency_ms:.0f} ms" if info.latency_ms is not None else "—",
                info.protocol,
                str(count),
                source,
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, info.id)
                if column == 0:
                    item.setIcon(dot_icon(_LIGHTS.get(info.state, STATE_COLOURS["stopped"])))
                    item.setToolTip(f"{info.state}" + (f": {info.error}" if info.error else ""))
                self.table.setItem(row, column, item)
            if info.id == selected:
                self.table.selectRow(row)
            if info.state == "down" and info.error:
                checked = (
                    time.strftime(" (checked %H:%M:%S)", time.localtime(info.checked_at))
                    if info.checked_at
                    else ""
                )
                problems.append(f"{info.id}: {info.error}{checked}")
        self.problem.setText("\n".join(problems))
        self.problem.setVisible(bool(problems))
        self._selection_changed()

    def open_dialog(self, backend_id: str | None) -> BackendDialog:
        existing = next((b for b in self.controller.config.backends if b.id == backend_id), None)
        dialog = BackendDialog(
            self.controller.background, existing, self, store_key=self.controller.store_key
        )
        dialog.keyring_refused.connect(self.controller.set_keyring_problem)
        dialog.accepted.connect(
            lambda: self.controller.save_backend(
                dialog.backend(), dialog.session_key(), replacing=backend_id
            )
        )
        self.dialog = dialog
        dialog.open()
        return dialog

    def _selected_id(self) -> str | None:
        items = self.table.selectedItems()
        return str(items[0].data(Qt.ItemDataRole.UserRole)) if items else None

    def _selection_changed(self) -> None:
        chosen = self._selected_id()
        configured = chosen in {b.id for b in self.controller.config.backends}
        self.edit.setEnabled(configured)
        self.remove.setEnabled(configured)

    def _edit_selected(self) -> None:
        chosen = self._selected_id()
        if chosen in {b.id for b in self.controller.config.backends}:
            self.open_dialog(chosen)

    def _remove_selected(self) -> None:
        chosen = self._selected_id()
        if chosen is not None:
            self.controller.remove_backend(chosen)
