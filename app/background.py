"""Blocking work (the keyring, file writes, HTTP tests, server starts) off the GUI thread, with
the outcome delivered back on the GUI thread."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, Signal, Slot

from app.signals import emit

__all__ = ["Background"]

log = logging.getLogger("lmgate.app")

T = TypeVar("T")
Done = Callable[[Any], None]
Failed = Callable[[BaseException], None]


class Background(QObject):
    """Two pools: `serial` work (server start/stop/restart, config saves) runs one at a time, in
    order; everything else runs in parallel. Callbacks run on the thread that owns this object."""

    _finished = Signal(object, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="lmgate-worker")
        self._serial = ThreadPoolExecutor(1, thread_name_prefix="lmgate-lifecycle")
        self._closed = False
        self._finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def submit(
        self,
        work: Callable[[], T],
        on_done: Callable[[T], None] | None = None,
        on_error: Failed | None = None,
        *,
        serial: bool = False,
    ) -> Future[T]:
        future = (self._serial if serial else self._pool).submit(work)
        future.add_done_callback(lambda f: self._relay(f, on_done, on_error))
        return future

    def shutdown(self, wait: bool = True) -> None:
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
        self._serial.shutdown(wait=wait, cancel_futures=True)

    def _relay(self, future: Future[Any], on_done: Done | None, on_error: Failed | None) -> None:
        if self._closed or future.cancelled():
            return
        error = future.exception()
        try:
            emit(self._finished, (on_done, on_error), None if error else future.result(), error)
        except RuntimeError:  # the app is quitting and this object is gone
            pass

    @Slot(object, object, object)
    def _deliver(
        self, callbacks: tuple[Done | None, Failed | None], value: Any, error: Any
    ) -> None:
        if self._closed:
            # Queued before shutdown and delivered after: the app is quitting, and a callback
            # that submits follow-up work would meet closed pools.
            return
        on_done, on_error = callbacks
        if error is None:
            if on_done is not None:
                on_done(value)
        elif on_error is not None:
            on_error(error)
        else:
            log.error("background work failed", exc_info=error)
