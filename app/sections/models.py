"""Models: the big and small model (and Opus, when set apart) picked from the catalogue, grouped
by backend, with each model's state, context window and capabilities, and warnings where a
choice will hurt. A choice applies to the next request and is saved."""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.controller import GatewayController
from app.icons import STATE_COLOURS
from app.model_advice import Advice, advise, context_label, model_details
from app.model_loading import CONTEXT_CHOICES, ModelLoader, context_advice
from app.sections.empty import NoBackends, check_now_button
from app.sections.routes_box import RoutesBox
from app.sections.tables import read_only_table
from app.watching import NAMES
from gateway.backends.catalogue import BackendInfo, CatalogueSnapshot, ModelInfo

__all__ = ["ModelsPage", "backend_heading", "fill_model_combo", "grouped"]

AUTOMATIC = "Automatic: the first model the backends list"
_MODEL_COLUMNS = ("Backend", "Model", "State", "Context", "Tools", "Vision", "Thinking")


def grouped(snapshot: CatalogueSnapshot) -> list[tuple[BackendInfo, list[ModelInfo]]]:
    """Backends in the catalogue's order, each with its models (no embeddings), loaded ones
    first, then by name: the one order the dropdowns and the table share."""
    return [
        (
            backend,
            sorted(
                (m for m in snapshot.models_of(backend.id) if m.kind != "embedding"),
                key=lambda m: (m.loaded is not True, m.name.lower()),
            ),
        )
        for backend in snapshot.backends
    ]


def backend_heading(backend: BackendInfo) -> str:
    """ "lmstudio", or "work-box · LM Studio" when the name does not say the kind already."""
    name = backend.display_name or backend.id
    kind = NAMES.get(backend.kind, backend.kind)
    if backend.kind.lower() in name.lower().replace(" ", "") or kind.lower() in name.lower():
        return name
    return f"{name} · {kind}"


def fill_model_combo(
    combo: QComboBox, snapshot: CatalogueSnapshot, chosen: str | None, automatic: str
) -> None:
    """Backend headings (not selectable) with their models under them; item data is the
    `backend:model` target, None for the automatic entry."""
    model = QStandardItemModel(combo)
    first = QStandardItem(automatic)
    first.setData(None, Qt.ItemDataRole.UserRole)
    model.appendRow(first)
    selected = 0
    for backend, models in grouped(snapshot):
        heading = QStandardItem(backend_heading(backend))
        heading.setFlags(Qt.ItemFlag.NoItemFlags)
        font = QFont(combo.font())
        font.setBold(True)
        heading.setFont(font)
        model.appendRow(heading)
        for info in models:
            details = model_details(info)
            item = QStandardItem(info.name + (f"  —  {details}" if details else ""))
            target = f"{backend.id}:{info.name}"
            item.setData(target, Qt.ItemDataRole.UserRole)
            item.setToolTip(f"{info.name} on {backend.id}\n{details}")
            model.appendRow(item)
            if chosen in (target, info.name):
                selected = model.rowCount() - 1
    if chosen and selected == 0:
        # A saved choice the backends do not list (yet): keep it visible and selected.
        missing = QStandardItem(f"{chosen}  —  not listed by any backend now")
        missing.setData(chosen, Qt.ItemDataRole.UserRole)
        model.appendRow(missing)
        selected = model.rowCount() - 1
    combo.blockSignals(True)
    combo.setModel(model)
    combo.setCurrentIndex(selected)
    combo.blockSignals(False)


class ModelsPage(QWidget):
    title = "Models"
    icon_name = "models"

    def __init__(
        self,
        controller: GatewayController,
        images_in_use: Callable[[], bool] = lambda: False,
        loader: ModelLoader | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.images_in_use = images_in_use
        self.loader = loader or ModelLoader(controller, self)
        layout = QVBoxLayout(self)
        self.empty = NoBackends(controller)
        layout.addWidget(self.empty)
        choices = QGroupBox("Which model answers")
        form = QFormLayout(choices)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.big = QComboBox()
        self.big.setObjectName("bigModel")
        self.small = QComboBox()
        self.small.setObjectName("smallModel")
        self.opus_apart = QCheckBox("Set a model apart for Opus")
        self.opus = QComboBox()
        self.opus.setObjectName("opusModel")
        for combo, name in ((self.big, "Big"), (self.small, "Small"), (self.opus, "Opus")):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(30)
            combo.setAccessibleName(f"{name} model")
        form.addRow("Big (Sonnet, main work)", self.big)
        form.addRow("Small (Haiku, titles and quick tasks)", self.small)
        form.addRow(self.opus_apart, self.opus)
        layout.addWidget(choices)
        self.routes = RoutesBox(controller)
        layout.addWidget(self.routes)

        self.advice = QLabel()
        self.advice.setObjectName("modelAdvice")
        self.advice.setWordWrap(True)
        self.advice.setTextFormat(Qt.TextFormat.RichText)
        self.advice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.advice)
        self.advice_items: list[Advice] = []

        self.table = read_only_table(_MODEL_COLUMNS, "modelTable")
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        layout.addSpacing(8)
        above = QHBoxLayout()
        above.addWidget(QLabel("Every model the backends list:"), 1)
        self.check_now = check_now_button(controller)
        above.addWidget(self.check_now)
        layout.addLayout(above)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        layout.addWidget(self.table, 1)

        actions = QHBoxLayout()
        self.load = QPushButton("Load")
        self.load.setObjectName("loadModel")
        self.load.setToolTip("Load the selected model into memory with the context length beside")
        self.unload = QPushButton("Unload")
        self.unload.setObjectName("unloadModel")
        self.context = QComboBox()
        self.context.setObjectName("loadContext")
        self.context.setAccessibleName("Context length to load with")
        self.context_note = QLabel()
        self.context_note.setObjectName("contextAdvice")
        self.context_note.setTextFormat(Qt.TextFormat.RichText)
        self.progress = QProgressBar()
        self.progress.setObjectName("loadProgress")
        self.progress.setRange(0, 0)  # the backends say nothing until done: busy, with the time
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(120)
        self.progress_text = QLabel()
        actions.addWidget(self.load)
        actions.addWidget(self.unload)
        actions.addSpacing(12)
        actions.addWidget(QLabel("Context to load with"))
        actions.addWidget(self.context)
        actions.addWidget(self.context_note, 1)
        actions.addWidget(self.progress)
        actions.addWidget(self.progress_text)
        layout.addLayout(actions)

        self.big.currentIndexChanged.connect(lambda _: self._chosen("big", self.big))
        self.small.currentIndexChanged.connect(lambda _: self._chosen("small", self.small))
        self.opus.currentIndexChanged.connect(lambda _: self._chosen("opus", self.opus))
        self.opus_apart.toggled.connect(self._opus_toggled)
        self.load.clicked.connect(lambda: self._run(self.loader.load))
        self.unload.clicked.connect(lambda: self._run(self.loader.unload))
        self.context.currentIndexChanged.connect(self._context_chosen)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.loader.changed.connect(self._jobs_changed)
        controller.catalogue_changed.connect(self.refresh)
        controller.config_changed.connect(self.refresh)
        self.refresh()

    # --- loading ------------------------------------------------------------------------------

    def selected(self) -> str | None:
        """The selected row's "backend:model"."""
        items = self.table.selectedItems()
        return str(items[0].data(Qt.ItemDataRole.UserRole)) if items else None

    def select(self, target: str) -> bool:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == target:
                self.table.selectRow(row)
                return True
        return False

    def _run(self, start: Callable[[str], bool]) -> None:
        target = self.selected()
        if target is not None:
            start(target)

    def _context_chosen(self, _: int) -> None:
        target = self.selected()
        if target is not None:
            data = self.context.currentData()
            self.loader.set_context(target, int(data) if data else None)
        self._show_context_advice()

    def _jobs_changed(self) -> None:
        self._fill_table(self.controller.snapshot)

    def _selection_changed(self) -> None:
        target = self.selected()
        snapshot = self.controller.snapshot
        model = None
        if target is not None:
            backend_id, _, name = target.partition(":")
            model = snapshot.model(backend_id, name)
        why_not = self.loader.why_not(target) if target else "select a model in the table"
        usable = why_not is None and model is not None
        self.load.setEnabled(usable)
        self.unload.setEnabled(usable and model is not None and model.loaded is not False)
        tip = why_not if why_not and why_not != "busy" else ""
        for button in (self.load, self.unload):
            button.setToolTip(tip or button.toolTip())
        self.context.blockSignals(True)
        self.context.clear()
        self.context.addItem("Backend's default", None)
        most = model.max_context if model is not None else None
        for tokens in CONTEXT_CHOICES:
            if most is None or tokens <= most:
                self.context.addItem(context_label(tokens).removesuffix(" context"), tokens)
        if most is not None and most not in CONTEXT_CHOICES:
            self.context.addItem(context_label(most).removesuffix(" context"), most)
        chosen = self.loader.context_for(target) if target else None
        index = self.context.findData(chosen) if chosen else 0
        if chosen and index < 0:
            self.context.addItem(context_label(chosen).removesuffix(" context"), chosen)
            index = self.context.count() - 1
        self.context.setCurrentIndex(max(index, 0))
        self.context.setEnabled(target is not None and model is not None)
        self.context.blockSignals(False)
        self._show_context_advice()
        jobs = list(self.loader.jobs.values())
        self.progress.setVisible(bool(jobs))
        self.progress_text.setText(" · ".join(job.text() for job in jobs))
        self.progress_text.setVisible(bool(jobs))

    def _show_context_advice(self) -> None:
        if not self.context.isEnabled():
            self.context_note.setText("")
            return
        data = self.context.currentData()
        level, words = context_advice(int(data) if data else None)
        colour = {
            "error": STATE_COLOURS["failed"],
            "warning": "#f08c00",
            "ok": STATE_COLOURS["healthy"],
        }.get(level)
        dot = f'<span style="color:{colour}">●</span> ' if colour else ""
        self.context_note.setText(dot + html.escape(words))

    def refresh(self, *_: object) -> None:
        c = self.controller
        snapshot, config = c.snapshot, c.config
        fill_model_combo(self.big, snapshot, config.big, AUTOMATIC)
        fill_model_combo(self.small, snapshot, config.small, "Same as the big model")
        fill_model_combo(self.opus, snapshot, config.opus, "Same as the big model")
        self.opus_apart.blockSignals(True)
        self.opus_apart.setChecked(config.opus is not None)
        self.opus_apart.blockSignals(False)
        self.opus.setEnabled(config.opus is not None)
        self._fill_advice()
        self._fill_table(snapshot)

    def choose(self, role: str, target: str | None) -> bool:
        """Select `target` ("backend:model") in the role's dropdown, as a user would."""
        combo = {"big": self.big, "small": self.small, "opus": self.opus}[role]
        index = combo.findData(target, Qt.ItemDataRole.UserRole)
        if index < 0:
            return False
        combo.setCurrentIndex(index)
        return True

    def _chosen(self, role: str, combo: QComboBox) -> None:
        target = combo.currentData(Qt.ItemDataRole.UserRole)
        if role == "opus" and not self.opus_apart.isChecked():
            return
        if target != getattr(self.controller.config, role):
            self.controller.set_model(role, target)

    def _opus_toggled(self, on: bool) -> None:
        self.opus.setEnabled(on)
        if on:
            target = self.opus.currentData(Qt.ItemDataRole.UserRole) or self.controller.config.big
            self.controller.set_model("opus", target or self._first_target())
        else:
            self.controller.set_model("opus", None)

    def _first_target(self) -> str | None:
        for index in range(self.big.count()):
            data = self.big.itemData(index, Qt.ItemDataRole.UserRole)
            if data:
                return str(data)
        return None

    def _fill_advice(self) -> None:
        self.advice_items = advise(
            self.controller.config, self.controller.snapshot, images_in_use=self.images_in_use()
        )
        lines = []
        for advice in self.advice_items:
            colour = STATE_COLOURS["failed"] if advice.level == "error" else "#f08c00"
            who = advice.roles.capitalize()
            lines.append(
                f'<span style="color:{colour}">●</span> <b>{html.escape(who)}</b>: '
                f"{html.escape(advice.text)}"
            )
        if not lines:
            lines.append(
                f'<span style="color:{STATE_COLOURS["healthy"]}">●</span> These choices look good.'
            )
        self.advice.setText("<br>".join(lines))

    def _fill_table(self, snapshot: CatalogueSnapshot) -> None:
        selected = self.selected()
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        for model in (m for _, models in grouped(snapshot) for m in models):
            row = self.table.rowCount()
            self.table.insertRow(row)
            target = f"{model.backend_id}:{model.name}"
            job = self.loader.jobs.get(target)
            state = {True: "loaded", False: "not loaded", None: "—"}[model.loaded]
            if job is not None:
                state = "loading…" if job.action == "load" else "unloading…"
            cells = (
                model.backend_id,
                model.name,
                state,
                _window(model),
                _flag(model.tools),
                _flag(model.vision),
                _flag(model.thinking),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, target)
                self.table.setItem(row, column, item)
            if target == selected:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self._selection_changed()


def _window(model: ModelInfo) -> str:
    """ "4k of 128k": the loaded context, then the model's maximum."""
    loaded, most = model.context_window, model.max_context
    short = [context_label(n).removesuffix(" context") if n else "" for n in (loaded, most)]
    if loaded and most and loaded != most:
        return f"{short[0]} of {short[1]}"
    if loaded or most:
        return short[0] or f"up to {short[1]}"
    return "—"


def _flag(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "—"}[value]
