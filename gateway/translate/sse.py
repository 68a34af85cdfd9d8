"""Server-sent events: Anthropic frames out to the client; OpenAI `data:` payloads and native
Anthropic events in."""

from __future__ import annotations

import orjson

from gateway.translate.lines import DEFAULT_MAX_LINE, LineSplitter, LineTooLong
from gateway.translate.stream import Event

__all__ = ["AnthropicSSEDecoder", "SSEDecoder", "encode", "encode_error"]


def encode(events: list[Event]) -> bytes:
    # The Anthropic SDKs drop data-only frames: every frame names its event.
    return b"".join(
        b"event: %s\ndata: %s\n\n" % (name.encode(), orjson.dumps(data)) for name, data in events
    )


def encode_error(error_type: str, message: str) -> bytes:
    return encode([("error", {"type": "error", "error": {"type": error_type, "message": message}})])


class SSEDecoder:
    """Incremental decoder (WHATWG rules): `:` lines are comments, `data:` lines of one event
    are joined with LF, and an event is complete at its blank line. Only data matters upstream
    (OpenAI streams), so event/id/retry are ignored. A line, or an event's data, longer than
    `limit` bytes raises LineTooLong."""

    __slots__ = ("_data", "_lines", "_size")

    def __init__(self, limit: int | None = DEFAULT_MAX_LINE) -> None:
        self._lines = LineSplitter(sse=True, limit=limit)
        self._data: list[bytes] | None = None
        self._size = 0

    def feed(self, data: bytes) -> list[str]:
        out: list[str] = []
        for line in self._lines.split(data):
            if not line:
                if self._data is not None:
                    out.append(b"\n".join(self._data).decode("utf-8", "replace"))
                    self._data, self._size = None, 0
                continue
            if line.startswith(b"data"):
                name, _, value = line.partition(b":")
                if name != b"data":
                    continue
                if value.startswith(b" "):
                    value = value[1:]
                self._size = _grown(self._lines.limit, self._size, value)
                if self._data is None:
                    self._data = [value]
                else:
                    self._data.append(value)
        return out

    def flush(self) -> list[str]:
        """End of the byte stream: a last event without its blank line is still delivered,
        because some servers close the connection right after the final `data:` line."""
        out = self.feed(b"\n\n") if self._lines.pending or self._data is not None else []
        self._lines.flush()
        return out


class AnthropicSSEDecoder:
    """Anthropic's own streams (native backends): each event's data is a JSON object, named by
    its `type` (or its `event:` line when the data has none); `[DONE]`, which some native
    backends add, is skipped, and data that is not a JSON object is skipped with a warning.
    A line, or an event's data, longer than `limit` bytes raises LineTooLong."""

    __slots__ = ("_data", "_event", "_lines", "_size", "warnings")

    def __init__(self, limit: int | None = DEFAULT_MAX_LINE) -> None:
        self._lines = LineSplitter(sse=True, limit=limit)
        self._data: list[bytes] | None = None
        self._size = 0
        self._event: str | None = None
        self.warnings: list[str] = []

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        for line in self._lines.split(data):
            if not line:
                if self._data is not None:
                    self._dispatch(b"\n".join(self._data), out)
                self._data, self._event, self._size = None, None, 0
                continue
            if line.startswith(b":"):
                continue
            name, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                self._size = _grown(self._lines.limit, self._size, value)
                if self._data is None:
                    self._data = [value]
                else:
                    self._data.append(value)
            elif name == b"event":
                self._event = value.decode("utf-8", "replace")
        return out

    def flush(self) -> list[Event]:
        """End of the byte stream: a last event without its blank line is still delivered."""
        out = self.feed(b"\n\n") if self._lines.pending or self._data is not None else []
        self._lines.flush()
        return out

    def _dispatch(self, raw: bytes, out: list[Event]) -> None:
        if raw.strip() == b"[DONE]":
            return
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            shown = raw[:80].decode("utf-8", "replace")
            self.warnings.append(f"an event that is not a JSON object was skipped: {shown!r}")
            return
        kind = data.get("type")
        out.append((kind if isinstance(kind, str) and kind else self._event or "message", data))


def _grown(limit: int | None, size: int, value: bytes) -> int:
    """An event's data size once `value` is added: each line is bounded, and so is their sum."""
    size += len(value) + 1
    if limit is not None and size > limit:
        raise LineTooLong(limit, "event")
    return size
