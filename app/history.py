"""The request log's memory across restarts: records go to the SQLite store in batches off the
GUI thread, and the newest come back into the Requests page at start."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from app.background import Background
from app.signals import emit
from gateway.events import RequestRecord
from gateway.usage_store import HISTORY_NAME, UsageStore

__all__ = ["HISTORY_NAME", "RESTORED_ROWS", "History"]

log = logging.getLogger("lmgate.app")

# What the Requests page shows again after a restart; the store keeps far more for Usage.
RESTORED_ROWS = 500
# A burst is written at once past this many: pending records hold their bodies.
_MOST_PENDING = 200


class History(QObject):
    written = Signal()  # a batch is in the store: the Usage page may read again

    def __init__(
        self,
        path: Path,
        background: Background,
        parent: QObject | None = None,
        *,
        batch_ms: int = 2000,
    ) -> None:
        super().__init__(parent)
        self.background = background
        self.store: UsageStore | None = None
        try:
            self.store = UsageStore(path)
        except Exception as exc:  # a locked or broken file must not stop the app
            log.warning("the request history at %s cannot be used: %s", path, exc)
        self._pending: list[RequestRecord] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(batch_ms)
        self._timer.timeout.connect(self.flush)

    def add(self, record: object) -> None:
        if self.store is None or not isinstance(record, RequestRecord):
            return
        self._pending.append(record)
        if len(self._pending) >= _MOST_PENDING:
            self.flush()
        elif not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        store, batch = self.store, self._pending
        self._timer.stop()
        if store is None or not batch:
            return
        self._pending = []
        self.background.submit(lambda: store.add(batch), lambda _: emit(self.written), self._failed)

    def restore(self, into: Callable[[RequestRecord], None], done: Callable[[], None]) -> None:
        """Read the newest requests on a worker, then hand them to `into`, oldest first."""
        store = self.store
        if store is None:
            return

        def put(records: list[RequestRecord]) -> None:
            for record in records:
                into(record)
            done()

        self.background.submit(lambda: store.recent(RESTORED_ROWS), put, self._failed)

    def close(self) -> None:
        """At quit: what is still pending goes in now, on this thread."""
        self._timer.stop()
        if self.store is None:
            return
        try:
            self.store.add(self._pending)
        finally:
            self._pending = []
            self.store.close()
            self.store = None

    def _failed(self, exc: BaseException) -> None:
        log.warning("the request history could not be written: %s", exc)
