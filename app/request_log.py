"""The live request log: a table model over a bounded deque of rows, newest first.

However long the app runs it holds at most `max_rows` rows and the bodies of the newest
`max_bodies` requests within `max_body_bytes`; older rows keep their figures and lose their
bodies. Records arrive one by one from the gateway thread (through the bridge) and are added in
batches, so a burst of requests costs one model update, not thousands.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

import orjson
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor

from app.signals import emit
from gateway.events import RequestRecord

__all__ = ["COLUMNS", "Bodies", "RequestLogModel", "Row", "request_class"]

COLUMNS = (
    "Time",
    "Session",
    "Class",
    "Model asked",
    "Routed to",
    "Stream",
    "Status",
    "Latency",
    "TTFT",
    "Queue",
    "In",
    "Out",
    "Cached",
    "Tok/s",
)
_NUMERIC = frozenset(range(6, len(COLUMNS)))
_DATED = re.compile(r"-20\d{6}$")
ModelIndex = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class Bodies:
    request: bytes | None
    response: bytes | None
    headers: bytes | None

    @property
    def size(self) -> int:
        return sum(len(b) for b in (self.request, self.response, self.headers) if b)


@dataclass(frozen=True, slots=True)
class Row:
    """What the table shows of a record; the bodies live apart so they can be dropped."""

    request_id: str
    started_at: float
    path: str
    session: str
    klass: str
    asked: str
    routed: str
    route_rule: str
    route: str  # the route taken ("images", "big"…) and why, when a scenario route matched
    route_reason: str
    hops: tuple[str, ...]  # each target tried: "backend/model: outcome (ms)"
    stream: bool
    status: int
    latency_ms: float
    ttft_ms: float | None
    queue_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cached_tokens: int | None
    tokens_per_s: float | None
    stop_reason: str | None
    error: str | None
    changes: tuple[str, ...]
    warnings: tuple[str, ...]
    prefix_note: str | None = None  # the prompt did not continue its conversation's last one

    @classmethod
    def of(cls, record: RequestRecord) -> Row:
        routed = ""
        if record.backend:
            routed = f"{record.backend}/{record.backend_model or '?'}"
        return cls(
            request_id=record.request_id,
            started_at=record.started_at,
            path=record.path,
            session=(record.session or "")[:8],
            klass=request_class(record),
            asked=record.client_model or "",
            routed=routed,
            route_rule=record.route_rule or "",
            route=record.route or "",
            route_reason=record.route_reason or "",
            hops=tuple(
                f"{a.backend}/{a.model}: {a.outcome} ({a.ms:.0f} ms)" for a in record.attempts
            ),
            stream=record.stream,
            status=record.status,
            latency_ms=record.latency_ms,
            ttft_ms=record.ttft_ms,
            queue_ms=record.queue_ms,
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            cached_tokens=record.cached_tokens,
            tokens_per_s=_tokens_per_s(record),
            stop_reason=record.stop_reason,
            error=record.error,
            changes=tuple(record.changes),
            warnings=tuple(record.warnings),
            prefix_note=record.prefix_note,
        )

    def cell(self, column: int) -> str:
        match column:
            case 0:
                return time.strftime("%H:%M:%S", time.localtime(self.started_at))
            case 1:
                return self.session
            case 2:
                return self.klass
            case 3:
                # The date stamp Claude Code adds ("-20251001") names no other model: left out
                # here, kept in the details and the search.
                return _DATED.sub("", self.asked)
            case 4:
                return self.routed
            case 5:
                return "yes" if self.stream else ""
            case 6:
                return str(self.status) if self.status else "…"
            case 7:
                return _ms(self.latency_ms)
            case 8:
                return _ms(self.ttft_ms)
            case 9:
                return _ms(self.queue_ms)
            case 10:
                return _count(self.input_tokens)
            case 11:
                return _count(self.output_tokens)
            case 12:
                return _count(self.cached_tokens)
            case 13:
                rate = self.tokens_per_s
                if rate is None:
                    return ""
                return f"{rate:.1f}" if rate < 100 else f"{rate:,.0f}"
        return ""


def request_class(record: RequestRecord) -> str:
    """What kind of request this was, as the gateway saw it."""
    if record.request_class:
        return record.request_class
    if record.path.endswith("/count_tokens"):
        return "count"
    if record.route_rule == "web-search":
        return "web search"
    if record.route_rule == "haiku":
        return "background"
    return "main"


# A rate needs some generating time and more than a token or two to mean anything: a 2 ms reply
# (a cached or refused answer) would otherwise read as tens of thousands of tokens a second.
MIN_RATE_MS = 100.0
MIN_RATE_TOKENS = 4


def _tokens_per_s(record: RequestRecord) -> float | None:
    if not record.output_tokens or not record.latency_ms or record.status >= 400:
        return None
    generating = record.latency_ms - (record.ttft_ms or 0.0)
    if generating < MIN_RATE_MS or record.output_tokens < MIN_RATE_TOKENS:
        return None
    return record.output_tokens / (generating / 1000)


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value / 1000:.1f} s" if value >= 10_000 else f"{value:.0f} ms"


def _count(value: int | None) -> str:
    return f"{value:,}" if value is not None else ""


def _json(value: Any) -> bytes | None:
    if value is None:
        return None
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return repr(value).encode("utf-8")


class RequestLogModel(QAbstractTableModel):
    rows_added = Signal(int)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        max_rows: int = 5000,
        max_bodies: int = 50,
        max_body_bytes: int = 20 * 1024 * 1024,
        batch_ms: int = 100,
    ) -> None:
        super().__init__(parent)
        self.max_rows = max_rows
        self.max_bodies = max_bodies
        self.max_body_bytes = max_body_bytes
        self._rows: deque[Row] = deque()  # newest first
        self._bodies: OrderedDict[str, Bodies] = OrderedDict()  # oldest first
        self._body_bytes = 0
        self._pending: deque[RequestRecord] = deque(maxlen=max_rows)
        self._paused = False
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(batch_ms)
        self._flush.timeout.connect(self.flush)
        self.images_seen = False

    # --- feeding ----------------------------------------------------------------------------

    def add(self, record: RequestRecord) -> None:
        self._pending.append(record)
        if not self._paused and not self._flush.isActive():
            self._flush.start()

    @property
    def paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        """While paused the table stands still; what arrives meanwhile is shown on resume."""
        self._paused = paused
        if not paused and self._pending:
            self.flush()

    def flush(self) -> None:
        self._flush.stop()
        if self._paused or not self._pending:
            return
        records = list(self._pending)
        self._pending.clear()
        fresh = [Row.of(r) for r in reversed(records[-self.max_rows :])]
        for record in records:
            self._keep_bodies(record)
        overflow = len(self._rows) + len(fresh) - self.max_rows
        if overflow > 0:
            first = len(self._rows) - min(overflow, len(self._rows))
            self.beginRemoveRows(QModelIndex(), first, len(self._rows) - 1)
            for _ in range(len(self._rows) - first):
                self._rows.pop()
            self.endRemoveRows()
        self.beginInsertRows(QModelIndex(), 0, len(fresh) - 1)
        self._rows.extendleft(reversed(fresh))
        self.endInsertRows()
        emit(self.rows_added, len(fresh))

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self._bodies.clear()
        self._body_bytes = 0
        self._pending.clear()
        self.endResetModel()

    def _keep_bodies(self, record: RequestRecord) -> None:
        headers = record.extra.get("headers")
        if record.request_body is None and record.response_body is None and not headers:
            return
        if _has_images(record.request_body):
            self.images_seen = True
        bodies = Bodies(_json(record.request_body), _json(record.response_body), _json(headers))
        if bodies.size > self.max_body_bytes:
            return
        self._bodies[record.request_id] = bodies
        self._body_bytes += bodies.size
        while len(self._bodies) > self.max_bodies or self._body_bytes > self.max_body_bytes:
            _, dropped = self._bodies.popitem(last=False)
            self._body_bytes -= dropped.size

    # --- reading ----------------------------------------------------------------------------

    def row(self, index: int) -> Row:
        return self._rows[index]

    def bodies(self, request_id: str) -> Bodies | None:
        return self._bodies.get(request_id)

    @property
    def body_count(self) -> int:
        return len(self._bodies)

    @property
    def body_bytes(self) -> int:
        return self._body_bytes

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return row.cell(column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and column == 6 and row.status >= 400:
            return QColor("#e03131")
        if role == Qt.ItemDataRole.ToolTipRole:
            if column in (3, 4) and not row.error:
                text = row.asked if column == 3 else row.routed
                return text + (f"  (route: {row.route_rule})" if row.route_rule else "")
            return row.error or (f"route: {row.route_rule}" if row.route_rule else None)
        if role == Qt.ItemDataRole.UserRole:
            return row
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None


def _has_images(body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "image" for b in content
        ):
            return True
    return False
