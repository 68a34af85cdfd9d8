"""Server-sent events: Anthropic frames out to the client; OpenAI `data:` payloads and native
Anthropic events in."""

from __future__ import annotations

import orjson

from gateway.translate.stream import Event

__all__ = ["AnthropicSSEDecoder", "SSEDecoder", "encode", "encode_error"]

_BOM = b"\xef\xbb\xbf"


def encode(events: list[Event]) -> bytes:
    # The Anthropic SDKs drop data-only frames: every frame names its event.
    return b"".join(
        b"event: %s\ndata: %s\n\n" % (name.encode(), orjson.dumps(data)) for name, data in events
    )


def encode_error(error_type: str, message: str) -> bytes:
    return encode([("error", {"type": "error", "error": {"type": error_type, "message": message}})])


class _Lines:
    """WHATWG line splitting: bytes may be cut anywhere, lines end in LF, CRLF or CR, and a
    leading BOM is dropped."""

    __slots__ = ("buffer", "_skip_lf", "_started")

    def __init__(self) -> None:
        self.buffer = b""
        self._skip_lf = False  # the last byte was a CR: an LF right after it ends nothing more
        self._started = False

    def split(self, data: bytes) -> list[bytes]:
        """The lines completed by `data`."""
        if self._skip_lf and data:
            self._skip_lf = False
            if data.startswith(b"\n"):
                data = data[1:]
        buffer = self.buffer + data if self.buffer else data
        if not self._started:
            if len(buffer) < len(_BOM) and _BOM.startswith(buffer):
                self.buffer = buffer
                return []
            self._started = True
            buffer = buffer.removeprefix(_BOM)
        if b"\r" in buffer:
            self._skip_lf = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, self.buffer = buffer.split(b"\n")
        return lines


class SSEDecoder:
    """Incremental decoder (WHATWG rules): `:` lines are comments, `data:` lines of one event
    are joined with LF, and an event is complete at its blank line. Only data matters upstream
    (OpenAI streams), so event/id/retry are ignored."""

    __slots__ = ("_data", "_lines")

    def __init__(self) -> None:
        self._lines = _Lines()
        self._data: list[bytes] | None = None

    def feed(self, data: bytes) -> list[str]:
        out: list[str] = []
        for line in self._lines.split(data):
            if not line:
                if self._data is not None:
                    out.append(b"\n".join(self._data).decode("utf-8", "replace"))
                    self._data = None
                continue
            if line.startswith(b"data"):
                name, _, value = line.partition(b":")
                if name != b"data":
                    continue
                if value.startswith(b" "):
                    value = value[1:]
                if self._data is None:
                    self._data = [value]
                else:
                    self._data.append(value)
        return out

    def flush(self) -> list[str]:
        """End of the byte stream: a last event without its blank line is still delivered,
        because some servers close the connection right after the final `data:` line."""
        out = self.feed(b"\n\n") if self._lines.buffer or self._data is not None else []
        self._lines.buffer = b""
        return out


class AnthropicSSEDecoder:
    """Anthropic's own streams (native backends): each event's data is a JSON object, named by
    its `type` (or its `event:` line when the data has none); `[DONE]`, which some native
    backends add, is skipped, and data that is not a JSON object is skipped with a warning."""

    __slots__ = ("_data", "_event", "_lines", "warnings")

    def __init__(self) -> None:
        self._lines = _Lines()
        self._data: list[bytes] | None = None
        self._event: str | None = None
        self.warnings: list[str] = []

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        for line in self._lines.split(data):
            if not line:
                if self._data is not None:
                    self._dispatch(b"\n".join(self._data), out)
                self._data, self._event = None, None
                continue
            if line.startswith(b":"):
                continue
            name, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                if self._data is None:
                    self._data = [value]
                else:
                    self._data.append(value)
            elif name == b"event":
                self._event = value.decode("utf-8", "replace")
        return out

    def flush(self) -> list[Event]:
        """End of the byte stream: a last event without its blank line is still delivered."""
        out = self.feed(b"\n\n") if self._lines.buffer or self._data is not None else []
        self._lines.buffer = b""
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
