"""The mutable draft of a request record, frozen and published once the request ends."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import GatewayError
from gateway.events import EventBus, RequestRecord

__all__ = ["RecordDraft", "new_id", "redact_headers", "refusal"]

_SECRET_HEADERS = {"authorization", "x-api-key", "api-key", "cookie", "proxy-authorization"}


def new_id(prefix: str) -> str:
    return prefix + os.urandom(12).hex()


# Whatever a refused request names is the sender's text: kept short in the record.
_REFUSED_TEXT = 200


def refusal(scope: dict[str, Any], error: GatewayError, request_id: str) -> RecordDraft:
    """The record of a request the guard refused (a web page's, a wrong token's…): the path, the
    status and why, and the Host and Origin it came with; never a credential."""
    path = str(scope.get("path", ""))[:_REFUSED_TEXT]
    draft = RecordDraft(request_id, str(scope.get("method", "")), path)
    draft.status = error.status
    draft.error = error.message
    draft.request_class = "refused"
    draft.extra["refused"] = True
    for name, value in scope.get("headers", ()):
        if name in (b"host", b"origin"):
            draft.extra[name.decode()] = value.decode("latin-1")[:_REFUSED_TEXT]
    return draft


def redact_headers(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        out[name] = "<redacted>" if name in _SECRET_HEADERS else raw_value.decode("latin-1")
    return out


@dataclass(slots=True)
class RecordDraft:
    request_id: str
    method: str
    path: str
    started_at: float = field(default_factory=time.time)
    t0: float = field(default_factory=time.perf_counter)
    session: str | None = None
    client_model: str | None = None
    backend: str | None = None
    backend_model: str | None = None
    route_rule: str | None = None
    stream: bool = False
    status: int = 0
    ttft_ms: float | None = None
    queue_ms: float | None = None
    request_class: str | None = None
    usage: dict[str, int] | None = None
    stop_reason: str | None = None
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    request_body: Any = None
    response_body: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    published: bool = False

    def mark_first_token(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = round((time.perf_counter() - self.t0) * 1000, 2)

    def publish(self, bus: EventBus) -> None:
        if self.published:
            return
        self.published = True
        usage = self.usage or {}
        cached = usage.get("cache_read_input_tokens")
        input_tokens = usage.get("input_tokens")
        bus.publish(
            RequestRecord(
                request_id=self.request_id,
                started_at=self.started_at,
                method=self.method,
                path=self.path,
                session=self.session,
                client_model=self.client_model,
                backend=self.backend,
                backend_model=self.backend_model,
                route_rule=self.route_rule,
                stream=self.stream,
                status=self.status,
                latency_ms=round((time.perf_counter() - self.t0) * 1000, 2),
                ttft_ms=self.ttft_ms,
                queue_ms=self.queue_ms,
                request_class=self.request_class,
                input_tokens=input_tokens,
                output_tokens=usage.get("output_tokens"),
                cached_tokens=cached,
                stop_reason=self.stop_reason,
                changes=tuple(self.changes),
                warnings=tuple(self.warnings),
                error=self.error,
                request_body=self.request_body,
                response_body=self.response_body,
                extra=self.extra,
            )
        )
