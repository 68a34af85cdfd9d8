"""The mutable draft of a request record, frozen and published once the request ends."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, fields, replace
from typing import Any

from gateway.errors import GatewayError, RateLimited
from gateway.events import Attempt, EventBus, RequestRecord
from gateway.team.gate import client_of

__all__ = ["RecordDraft", "bounded", "new_id", "redact_headers", "refusal"]

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
    client = client_of(scope)
    draft.client = client.name if client else None
    limits = error.limits if isinstance(error, RateLimited) else None
    if limits:
        draft.extra["limit"] = "tokens" if any("tokens" in name for name in limits) else "requests"
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
    attempts: list[Attempt] = field(default_factory=list)
    t0: float = field(default_factory=time.perf_counter)
    usage: dict[str, int] | None = None  # as the answer reports it; becomes the token counts
    published: bool = False

    def attempted(self, backend: str, model: str, outcome: str, ms: float = 0.0) -> None:
        """One hop on the record; its outcome (a backend's wording, at times) cut to size."""
        self.attempts.append(Attempt(backend, model, _cut(outcome, NAME_LIMIT), round(ms, 2)))

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
            attempts=tuple(self.attempts),
        )
        bus.publish(bounded(RequestRecord(**values)))


# A client chooses the model name, the path, the headers and much of an error's wording (a 100 KB
# model name once made a 200,627-character log line): a record keeps a bounded part of each.
NAME_LIMIT = 256  # method, path, session, models, rule, stop reason
TEXT_LIMIT = 2000  # the error, each change and warning, each string in `extra`
ITEMS_LIMIT = 50  # changes, warnings, and the entries of a dict or list in `extra`
# The record's text fields, read from its definition so that a field added later is covered.
# Captured bodies (typed Any) are the point of capture, bounded by capture_max_bytes.
_STRINGS = tuple(f.name for f in fields(RequestRecord) if f.type in ("str", "str | None"))
_LISTS = tuple(f.name for f in fields(RequestRecord) if f.type == "Sequence[str]")


def bounded(record: RequestRecord) -> RequestRecord:
    """`record` with every string in it cut to its limit, saying how much was left out."""
    changes: dict[str, Any] = {}
    for name in _STRINGS:
        value = getattr(record, name)
        limit = TEXT_LIMIT if name == "error" else NAME_LIMIT
        if value is not None and len(value) > limit:
            changes[name] = _cut(value, limit)
    for name in _LISTS:
        items = getattr(record, name)
        if len(items) > ITEMS_LIMIT or any(len(item) > TEXT_LIMIT for item in items):
            kept = tuple(_cut(item, TEXT_LIMIT) for item in items[:ITEMS_LIMIT])
            more = (f"… {len(items) - ITEMS_LIMIT} more",) if len(items) > ITEMS_LIMIT else ()
            changes[name] = kept + more
    if _too_big(record.extra, depth=0):  # checking is cheaper than copying, and usually enough
        changes["extra"] = _bound_value(record.extra, depth=0)
    return replace(record, **changes) if changes else record


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def _too_big(value: Any, depth: int) -> bool:
    # Plain loops: this runs on every request, and a generator per level costs more than it reads.
    if isinstance(value, str):
        return len(value) > TEXT_LIMIT
    if isinstance(value, dict):
        if depth >= 4 or len(value) > ITEMS_LIMIT:
            return True
        for key, item in value.items():
            if len(str(key)) > NAME_LIMIT:
                return True
            if isinstance(item, str):
                if len(item) > TEXT_LIMIT:
                    return True
            elif isinstance(item, (dict, list, tuple)) and _too_big(item, depth + 1):
                return True
        return False
    if isinstance(value, (list, tuple)):
        if depth >= 4 or len(value) > ITEMS_LIMIT:
            return True
        for item in value:
            if _too_big(item, depth + 1):
                return True
    return False


def _bound_value(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return _cut(value, TEXT_LIMIT)
    if depth >= 4:  # deeper structures are not something a record needs to show
        return value if isinstance(value, (int, float, bool, type(None))) else "…"
    if isinstance(value, dict):
        items = list(value.items())
        out = {_cut(str(k), NAME_LIMIT): _bound_value(v, depth + 1) for k, v in items[:ITEMS_LIMIT]}
        if len(items) > ITEMS_LIMIT:
            out["…"] = f"{len(items) - ITEMS_LIMIT} more"
        return out
    if isinstance(value, (list, tuple)):
        kept = [_bound_value(v, depth + 1) for v in value[:ITEMS_LIMIT]]
        if len(value) > ITEMS_LIMIT:
            kept.append(f"… {len(value) - ITEMS_LIMIT} more")
        return kept if isinstance(value, list) else tuple(kept)
    return value
