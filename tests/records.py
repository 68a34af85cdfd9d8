"""Collect request records from a bus, and wait for them: a record is published just after the
response's last byte, so a test that has its answer may still be a moment ahead of the record."""

from __future__ import annotations

import threading

from gateway.events import EventBus, RequestRecord


class RecordSink(list[RequestRecord]):
    def __init__(self, bus: EventBus) -> None:
        super().__init__()
        self._cond = threading.Condition()
        bus.subscribe(self._add)

    def _add(self, record: RequestRecord) -> None:
        with self._cond:
            self.append(record)
            self._cond.notify_all()

    def wait(self, count: int = 1, timeout: float = 5.0) -> list[RequestRecord]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self) >= count, timeout):
                raise AssertionError(
                    f"expected {count} records within {timeout} s, got {len(self)}"
                )
            return list(self)
