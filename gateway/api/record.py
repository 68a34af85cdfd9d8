"""The mutable draft of a request record, frozen and published once the request ends."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, fields
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
class RecordDraft(RequestRecord):
    """The record of a request still running: filled in as it goes, published once."""

    # Lists while the request runs (the path appends to them), tuples once published.
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    t0: float = field(default_factory=time.perf_counter)
    usage: dict[str, int] | None = None  # as the answer reports it; becomes the token counts
    published: bool = False

    def mark_first_token(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = round((time.perf_counter() - self.t0) * 1000, 2)

    def publish(self, bus: EventBus) -> None:
        if self.published:
            return
        self.published = True
        usage = self.usage or {}
        # A copy: the draft may still be written to (a late disconnect), the record never is.
        values = {f.name: getattr(self, f.name) for f in fields(RequestRecord)}
        values.update(
            latency_ms=round((time.perf_counter() - self.t0) * 1000, 2),
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
            cached_tokens=usage.get("cache_read_input_tokens"),
            changes=tuple(self.changes),
            warnings=tuple(self.warnings),
            extra=dict(self.extra),
        )
        bus.publish(RequestRecord(**values))
