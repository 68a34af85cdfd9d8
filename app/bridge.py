"""Carries what the gateway's thread publishes (request records, catalogue snapshots) to the GUI
thread: a callback on the gateway's side emits a signal, and Qt queues the delivery."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from app.signals import emit
from gateway.events import EventBus, RequestRecord

__all__ = ["CatalogueBridge", "RecordBridge"]


class RecordBridge(QObject):
    """Re-emits every record published on `bus` as `record_arrived`, on the GUI thread."""

    record_arrived = Signal(object)

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unsubscribe: Callable[[], None] | None = bus.subscribe(self._publish)

    def _publish(self, record: RequestRecord) -> None:
        try:
            emit(self.record_arrived, record)
        except RuntimeError:  # the bridge was deleted while the gateway still ran
            pass

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


class CatalogueBridge(QObject):
    """Receives catalogue snapshots from any thread and re-emits them on the GUI thread."""

    snapshot_arrived = Signal(object)

    def publish(self, snapshot: object) -> None:
        try:
            emit(self.snapshot_arrived, snapshot)
        except RuntimeError:
            pass
