"""Usage: tokens, requests, errors and speed per model over the last hour or day (drawn with
QPainter), totals per model, per Claude Code session and, in team mode, per client key, and the
history exported as JSON Lines or CSV. It reads the SQLite history off the GUI thread."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.controller import GatewayController
from app.history import History
from app.sections.tables import read_only_table
from gateway.usage_store import ModelUsage, SessionUsage, UsageLine

__all__ = ["PERIODS", "UsageChart", "UsagePage"]

# Label → (seconds back, bucket seconds).
PERIODS = {"Last hour": (3600, 300), "Last day": (86400, 3600)}
METRICS = {
    "Output tokens": "output_tokens",
    "Input tokens": "input_tokens",
    "Requests": "requests",
    "Errors": "errors",
}
# Colours that read on light and dark alike, one per model in order of use.
SERIES = ("#4c6ef5", "#2f9e44", "#f08c00", "#ae3ec9", "#1098ad", "#e03131", "#868e96")


@dataclass(frozen=True, slots=True)
class Figures:
    since: float
    bucket: float
    buckets: list[ModelUsage]
    totals: list[ModelUsage]
    sessions: list[SessionUsage]
    clients: list[UsageLine]


class UsageChart(QWidget):
    """Stacked bars: one per time bucket, one colour per model, with a legend."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("usageChart")
        self.setMinimumHeight(180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.shown = "output_tokens"
        self.figures: Figures | None = None
        self.bars: list[tuple[QRectF, str]] = []  # drawn rectangles and their model, for tests

    def show_figures(self, figures: Figures, metric: str) -> None:
        self.figures, self.shown = figures, metric
        self.update()

    def models(self) -> list[str]:
        if self.figures is None:
            return []
        return [u.model for u in self.figures.totals]

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.WindowText)
        grid = QColor(text)
        grid.setAlpha(50)
        metrics = self.fontMetrics()
        self.bars = []
        figures = self.figures
        area = QRectF(self.rect()).adjusted(56, 10, -12, -metrics.height() * 2 - 14)
        if figures is None or not figures.buckets:
            painter.setPen(text)
            painter.drawText(
                QRectF(self.rect()),
                Qt.AlignmentFlag.AlignCenter,
                "No requests in this period yet",
            )
            return
        count = max(1, round((time.time() - figures.since) / figures.bucket))
        stacks: dict[int, list[tuple[str, float]]] = {}
        for usage in figures.buckets:
            index = min(count - 1, max(0, round((usage.bucket - figures.since) / figures.bucket)))
            stacks.setdefault(index, []).append((usage.model, float(getattr(usage, self.shown))))
        top = max((sum(v for _, v in s) for s in stacks.values()), default=0.0) or 1.0
        colours = {model: QColor(SERIES[i % len(SERIES)]) for i, model in enumerate(self.models())}
        # Grid lines and the scale.
        painter.setPen(grid)
        for step in range(5):
            y = area.bottom() - area.height() * step / 4
            painter.drawLine(int(area.left()), int(y), int(area.right()), int(y))
            painter.setPen(text)
            label = _short(top * step / 4)
            painter.drawText(
                QRectF(0, y - metrics.height() / 2, area.left() - 6, metrics.height()),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                label,
            )
            painter.setPen(grid)
        slot = area.width() / count
        width = max(2.0, slot * 0.7)
        painter.setPen(Qt.PenStyle.NoPen)
        for index, stack in stacks.items():
            x = area.left() + slot * index + (slot - width) / 2
            y = area.bottom()
            for model, value in stack:
                height = area.height() * value / top
                bar = QRectF(x, y - height, width, height)
                painter.setBrush(colours.get(model, QColor(SERIES[-1])))
                painter.drawRect(bar)
                self.bars.append((bar, model))
                y -= height
        # The time axis: the start and now.
        painter.setPen(text)
        below = QRectF(area.left(), area.bottom() + 4, area.width(), metrics.height())
        painter.drawText(
            below, Qt.AlignmentFlag.AlignLeft, time.strftime("%H:%M", time.localtime(figures.since))
        )
        painter.drawText(below, Qt.AlignmentFlag.AlignRight, "now")
        # The legend.
        x = area.left()
        y = below.bottom() + 6
        for model, colour in colours.items():
            painter.setBrush(colour)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawRect(QRectF(x, y + 3, 10, 10))
            painter.setPen(text)
            painter.drawText(QRectF(x + 14, y, 400, metrics.height()), model)
            x += 14 + metrics.horizontalAdvance(model) + 18
        painter.end()


class UsagePage(QWidget):
    title = "Usage"
    icon_name = "usage"

    def __init__(
        self, controller: GatewayController, history: History, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.history = history
        self.figures: Figures | None = None
        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.period = QComboBox()
        self.period.addItems(list(PERIODS))
        self.period.setAccessibleName("Period")
        self.measure = QComboBox()
        self.measure.addItems(list(METRICS))
        self.measure.setAccessibleName("What the chart shows")
        self.export_jsonl = QPushButton("Export JSON Lines…")
        self.export_csv = QPushButton("Export CSV…")
        self.status = QLabel()
        bar.addWidget(self.period)
        bar.addWidget(self.measure)
        bar.addWidget(self.status, 1)
        bar.addWidget(self.export_jsonl)
        bar.addWidget(self.export_csv)
        layout.addLayout(bar)
        self.chart = UsageChart()
        self.models = read_only_table(
            ("Model", "Requests", "Errors", "Tokens in", "Tokens out", "Tok/s"), "usageModels"
        )
        self.sessions = read_only_table(
            ("Session", "Requests", "Errors", "Tokens in", "Tokens out", "From", "To"),
            "usageSessions",
        )
        # Team mode: per client key (`lmgate clients`); hidden while no request came with one.
        self.clients = read_only_table(
            ("Client key", "Requests", "Errors", "Tokens in", "Tokens out"), "usageClients"
        )
        self.clients.hide()
        for table in (self.models, self.sessions, self.clients):
            table.setAlternatingRowColors(True)
            table.setWordWrap(False)
            header = table.horizontalHeader()
            header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        tables = QSplitter(Qt.Orientation.Horizontal)
        tables.addWidget(self.models)
        tables.addWidget(self.sessions)
        tables.addWidget(self.clients)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.chart)
        splitter.addWidget(tables)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout.addWidget(splitter, 1)
        self.period.currentIndexChanged.connect(lambda _: self.reload())
        self.measure.currentIndexChanged.connect(lambda _: self._draw())
        self.export_jsonl.clicked.connect(lambda: self._ask_export("jsonl"))
        self.export_csv.clicked.connect(lambda: self._ask_export("csv"))
        history.written.connect(self._written)
        self.status.setText("")

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.reload()

    def _written(self) -> None:
        if self.isVisible():
            self.reload()

    def reload(self) -> None:
        store = self.history.store
        if store is None:
            self.status.setText("The request history is not available")
            return
        back, bucket = PERIODS[self.period.currentText()]
        since = time.time() - back

        def read() -> Figures:
            return Figures(
                since,
                bucket,
                store.per_model(since, bucket),
                store.totals(since),
                store.sessions(since),
                store.usage_by(since, "client"),
            )

        self.controller.background.submit(read, self._show)

    def _show(self, figures: Figures) -> None:
        self.figures = figures
        total = sum(u.requests for u in figures.totals)
        errors = sum(u.errors for u in figures.totals)
        self.status.setText(f"{total:,} requests, {errors:,} failed")
        self.models.setRowCount(0)
        for usage in figures.totals:
            self._row(
                self.models,
                usage.model,
                f"{usage.requests:,}",
                f"{usage.errors:,}",
                f"{usage.input_tokens:,}",
                f"{usage.output_tokens:,}",
                f"{usage.tokens_per_s:.1f}" if usage.tokens_per_s else "",
            )
        self.sessions.setRowCount(0)
        for session in figures.sessions:
            self._row(
                self.sessions,
                session.session[:8],
                f"{session.requests:,}",
                f"{session.errors:,}",
                f"{session.input_tokens:,}",
                f"{session.output_tokens:,}",
                time.strftime("%H:%M", time.localtime(session.first)),
                time.strftime("%H:%M", time.localtime(session.last)),
            )
        self.clients.setRowCount(0)
        for line in figures.clients:
            self._row(
                self.clients,
                line.client or "(no key)",
                f"{line.requests:,}",
                f"{line.errors:,}",
                f"{line.input_tokens:,}",
                f"{line.output_tokens:,}",
            )
        self.clients.setVisible(any(line.client for line in figures.clients))
        self._draw()

    def _draw(self) -> None:
        if self.figures is not None:
            self.chart.show_figures(self.figures, METRICS[self.measure.currentText()])

    @staticmethod
    def _row(table: object, *cells: str) -> None:
        from PySide6.QtWidgets import QTableWidget

        assert isinstance(table, QTableWidget)
        row = table.rowCount()
        table.insertRow(row)
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if column:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(row, column, item)

    def _ask_export(self, kind: str) -> None:
        suffix = "jsonl" if kind == "jsonl" else "csv"
        name, _ = QFileDialog.getSaveFileName(
            self, "Export the request history", f"lmgate-requests.{suffix}"
        )
        if name:
            self.export(Path(name), kind)

    def export(self, path: Path, kind: str) -> None:
        """Write the history to `path` ("jsonl" or "csv") on a worker; the status says how many."""
        store = self.history.store
        if store is None:
            return
        self.history.flush()

        def work() -> int:
            return store.export_jsonl(path) if kind == "jsonl" else store.export_csv(path)

        def done(count: int) -> None:
            self.status.setText(f"{count:,} requests exported to {path}")

        def failed(exc: BaseException) -> None:
            self.status.setText(f"The export failed: {exc}")

        self.controller.background.submit(work, done, failed, serial=True)


def _short(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1000:
        return f"{value / 1000:.0f}k"
    return f"{value:.0f}"
