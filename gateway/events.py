"""Request records and the in-process bus that carries them to the GUI and the log file."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EventBus", "RequestRecord"]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One finished (or failed) request. Never a secret in it; bodies only while capture is on."""

    request_id: str
    started_at: float  # epoch seconds
    method: str
    path: str
    session: str | None = None
    client_model: str | None = None
    backend: str | None = None
    backend_model: str | None = None
    route_rule: str | None = None
    stream: bool = False
    status: int = 0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    queue_ms: float | None = None  # time spent waiting for a backend slot
    # "main" | "side" | "title" | "count" | "web-search" | "refused" (by the guard)
    request_class: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    stop_reason: str | None = None
    changes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None
    request_body: Any = None
    response_body: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[RequestRecord], None]


class EventBus:
    """Thread-safe fan-out of records. Subscribers run on the publishing thread and must be quick;
    the GUI re-emits through a Qt signal, the log file writes one line."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: tuple[Subscriber, ...] = ()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not callback)

        return unsubscribe

    def publish(self, record: RequestRecord) -> None:
        for callback in self._subscribers:
            try:
                callback(record)
            except Exception:  # a broken subscriber must not break a request
                import logging

                logging.getLogger("lmgate").exception("request record subscriber failed")
