"""The one record of a request, and the in-process bus that carries records and snapshots."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["Attempt", "Bus", "EventBus", "RequestRecord"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Attempt:
    """One hop of a request: the target tried, how it ended ("ok", "connection refused",
    "HTTP 500", "overloaded", "prompt too long", "skipped: breaker open"…) and its time."""

    backend: str
    model: str
    outcome: str
    ms: float = 0.0


@dataclass(slots=True)
class RequestRecord:
    """One finished (or failed) request. Never a secret in it; bodies only while capture is on.

    The request path fills one in as it goes (`api.record.RecordDraft`) and publishes a copy
    once it ends: a published record is never written to again."""

    request_id: str
    method: str
    path: str
    started_at: float = field(default_factory=time.time)  # epoch seconds
    session: str | None = None
    client: str | None = None  # the client key's name (team mode); never the key
    client_model: str | None = None
    backend: str | None = None
    backend_model: str | None = None
    route_rule: str | None = None
    # The route that matched ("long_context", "images", "thinking", "subagent", "background", or
    # the role "big"/"small"/"opus") and why (gateway/scenarios.py).
    route: str | None = None
    route_reason: str | None = None
    stream: bool = False
    status: int = 0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    queue_ms: float | None = None  # time spent waiting for a backend slot
    load_ms: float | None = None  # the backend (re)loaded the model first (Ollama's load_duration)
    # "main" | "side" | "title" | "count" | "web-search" | "refused" (by the guard)
    request_class: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None  # read from the backend's prompt cache, as it reports it
    # Set when the prompt does not start with the previous one of its conversation (the
    # backend re-reads it from there): where and why (gateway/prefixes.py).
    prefix_note: str | None = None
    stop_reason: str | None = None
    changes: Sequence[str] = ()  # a tuple once published
    warnings: Sequence[str] = ()
    error: str | None = None
    request_body: Any = None
    response_body: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Every target tried, in order, when there was more than one way to serve the request.
    attempts: Sequence[Attempt] = ()

    @property
    def served_by(self) -> str:
        """The "backend/model" that answered, else the model the client asked for: what usage is
        counted under."""
        if self.backend and self.backend_model:
            return f"{self.backend}/{self.backend_model}"
        return self.client_model or "?"


class Bus(Generic[T]):
    """Thread-safe fan-out. Subscribers run on the publishing thread and must be quick (the GUI
    re-emits through a Qt signal, the log file writes one line); one that raises is logged and
    the others still run."""

    def __init__(self, what: str = "request record", logger: str = "lmgate") -> None:
        self._what = what
        self._log = logging.getLogger(logger)
        self._lock = threading.Lock()
        self._subscribers: tuple[Callable[[T], None], ...] = ()

    def subscribe(self, callback: Callable[[T], None]) -> Callable[[], None]:
        """Call `callback` with everything published from now on; returns the unsubscribe."""
        with self._lock:
            self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not callback)

        return unsubscribe

    def publish(self, item: T) -> None:
        for callback in self._subscribers:
            try:
                callback(item)
            except Exception:  # a broken subscriber must not break a request or a refresh
                self._log.exception("a %s subscriber failed", self._what)


# The request records' bus: the log file and the GUI's request log subscribe to it.
EventBus = Bus[RequestRecord]
