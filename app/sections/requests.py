"""Requests: the live log with search, an errors-only filter, pause, and a detail pane with the
redacted bodies, every change the gateway made, and "copy as curl"."""

from __future__ import annotations

import time

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.controller import GatewayController
from app.curl import as_curl
from app.request_log import RequestLogModel, Row
from app.request_search import parse_query

__all__ = ["SAMPLES", "RequestFilter", "RequestsPage"]

ASKED, ROUTED = 3, 4
_GROWING = (1, 2, ASKED)
# The widest usual content of the figures' columns: widths fit it (and the title) at any font
# size. Session, class and the model asked grow to the widest text seen; "Routed to" takes what
# is left.
SAMPLES = (
    "00:00:00",
    "",
    "",
    "",
    "",
    "yes",
    "529",
    "9999 ms",
    "9999 ms",
    "9999 ms",
    "123,456",
    "12,345",
    "123,456",
    "123.4",
)
_MOST_CHARS = 40


class RequestFilter(QSortFilterProxyModel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = ""
        self.query = parse_query("")
        self.errors_only = False

    def set_filter(self, text: str, errors_only: bool) -> None:
        self.beginFilterChange()
        self.text, self.errors_only = text.strip(), errors_only
        self.query = parse_query(self.text)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(
        self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex
    ) -> bool:
        model = self.sourceModel()
        assert isinstance(model, RequestLogModel)
        row = model.row(source_row)
        if self.errors_only and row.status < 400 and not row.error:
            return False
        return self.query.matches(row)


class RequestsPage(QWidget):
    title = "Requests"
    icon_name = "requests"

    def __init__(
        self, controller: GatewayController, log: RequestLogModel, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.log = log
        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText(
            "Search  (one column: status:400  model:sonnet  routed:ollama)"
        )
        self.search.setToolTip(
            "Words must all match. Prefix one with a column: status: (400, 5xx, >=400), model:, "
            "routed:, backend:, session:, class:, error:, stop:, id:"
        )
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search requests")
        self.show_which = QComboBox()
        self.show_which.addItems(["All requests", "Errors only"])
        self.pause = QCheckBox("Pause")
        self.pause.setToolTip("Hold the table still; requests that arrive meanwhile show on resume")
        self.clear = QPushButton("Clear")
        self.count = QLabel()
        bar.addWidget(self.search, 1)
        bar.addWidget(self.show_which)
        bar.addWidget(self.pause)
        bar.addWidget(self.clear)
        bar.addWidget(self.count)
        layout.addLayout(bar)

        self.proxy = RequestFilter(self)
        self.proxy.setSourceModel(log)
        self.table = QTableView()
        self.table.setObjectName("requestTable")
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(ROUTED, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(24)
        for column, sample in enumerate(SAMPLES):
            if column != ROUTED:
                self.table.setColumnWidth(column, self._fit(column, sample))
        # Whatever is widest so far, per text column (the numbers have fixed samples).
        self._widest: dict[int, int] = {}
        log.rows_added.connect(self._fit_new_rows)

        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QTabWidget()
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.summary = QPlainTextEdit()
        self.request_body = QPlainTextEdit()
        self.response_body = QPlainTextEdit()
        self.headers = QPlainTextEdit()
        for name, view in (
            ("Summary", self.summary),
            ("Request", self.request_body),
            ("Response", self.response_body),
            ("Headers", self.headers),
        ):
            view.setReadOnly(True)
            view.setFont(fixed)
            self.tabs.addTab(view, name)
        self.curl = QPushButton("Copy as curl")
        self.curl.setEnabled(False)
        detail_layout.addWidget(self.tabs, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.curl)
        detail_layout.addLayout(row)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout.addWidget(splitter, 1)

        self.search.textChanged.connect(self._filter)
        self.show_which.currentIndexChanged.connect(self._filter)
        self.pause.toggled.connect(log.set_paused)
        self.clear.clicked.connect(log.clear)
        self.curl.clicked.connect(self.copy_curl)
        self.table.selectionModel().currentRowChanged.connect(self._show_detail)
        log.rows_added.connect(self._update_count)
        log.modelReset.connect(self._update_count)
        self._selected: Row | None = None
        self._update_count()

    def _fit(self, column: int, text: str) -> int:
        title = str(self.log.headerData(column, Qt.Orientation.Horizontal))
        header = self.table.horizontalHeader().fontMetrics().horizontalAdvance(title)
        # Room for the cell's margins (and the header's sort arrow), as the style draws them.
        return max(self.table.fontMetrics().horizontalAdvance(text), header) + 10

    def _fit_new_rows(self, count: int) -> None:
        for row in range(min(count, self.log.rowCount())):
            shown = self.log.row(row)
            for column in _GROWING:
                width = self._fit(column, shown.cell(column)[:_MOST_CHARS])
                if width > max(self._widest.get(column, 0), self.table.columnWidth(column)):
                    self._widest[column] = width
                    self.table.setColumnWidth(column, width)

    def _filter(self, *_: object) -> None:
        self.proxy.set_filter(self.search.text(), self.show_which.currentIndex() == 1)
        self._update_count()

    def _update_count(self, *_: object) -> None:
        shown, total = self.proxy.rowCount(), self.log.rowCount()
        self.count.setText(f"{total:,} requests" if shown == total else f"{shown:,} of {total:,}")

    def select(self, proxy_row: int) -> None:
        self.table.selectRow(proxy_row)

    def _show_detail(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            self._selected = None
            self.curl.setEnabled(False)
            return
        row = self.log.row(self.proxy.mapToSource(current).row())
        self._selected = row
        bodies = self.log.bodies(row.request_id)
        self.summary.setPlainText(_summary(row, bodies is not None))
        gone = "(bodies are kept for the newest 50 requests while capture is on)"
        self.request_body.setPlainText(_text(bodies.request if bodies else None, gone))
        self.response_body.setPlainText(_text(bodies.response if bodies else None, gone))
        self.headers.setPlainText(_text(bodies.headers if bodies else None, gone))
        self.curl.setEnabled(bodies is not None and bodies.request is not None)

    def copy_curl(self) -> str | None:
        import orjson

        row = self._selected
        bodies = self.log.bodies(row.request_id) if row else None
        if row is None or bodies is None or bodies.request is None:
            return None
        headers = orjson.loads(bodies.headers) if bodies.headers else {}
        command = as_curl(
            self.controller.url,
            row.path,
            orjson.loads(bodies.request),
            headers,
            token_needed=bool(self.controller.token),
        )
        QGuiApplication.clipboard().setText(command)
        return command


def _text(data: bytes | None, missing: str) -> str:
    return data.decode("utf-8", "replace") if data is not None else missing


def _summary(row: Row, has_bodies: bool) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.started_at))
    lines = [
        f"{row.request_id}   {started}   {row.path}",
        f"session {row.session or '—'}   class {row.klass}   "
        f"stream {'yes' if row.stream else 'no'}",
        f"asked {row.asked or '—'}  →  {row.routed or '—'}   (rule: {row.route_rule or '—'})",
        f"route {row.route or '—'}" + (f"   ({row.route_reason})" if row.route_reason else ""),
        f"status {row.status}   stop {row.stop_reason or '—'}   latency {row.cell(7)}   "
        f"first token {row.cell(8) or '—'}   queued {row.cell(9) or '—'}",
        f"tokens in {row.cell(10) or '—'}   out {row.cell(11) or '—'}   "
        f"cached {row.cell(12) or '—'}   {row.cell(13) or '—'} tok/s",
    ]
    if row.prefix_note:
        lines += ["", f"Backend's prompt cache: {row.prefix_note}"]
    if len(row.hops) > 1:
        lines += ["", "Targets tried:"] + [f"  {n}. {hop}" for n, hop in enumerate(row.hops, 1)]
    if row.error:
        lines += ["", f"error: {row.error}"]
    if row.changes:
        lines += ["", "What the gateway changed:"] + [f"  • {c}" for c in row.changes]
    if row.warnings:
        lines += ["", "Warnings:"] + [f"  • {w}" for w in row.warnings]
    if not row.changes and not row.warnings and not row.error:
        lines += ["", "The gateway changed nothing in this request."]
    return "\n".join(lines)
