"""Server-sent events: Anthropic frames out to the client, OpenAI `data:` payloads in."""

from __future__ import annotations

import orjson

from gateway.translate.stream import Event

__all__ = ["SSEDecoder", "encode", "encode_error"]

_BOM = b"\xef\xbb\xbf"


def encode(events: list[Event]) -> bytes:
    # The Anthropic SDKs drop data-only frames: every frame names its event.
    return b"".join(
        b"event: %s\ndata: %s\n\n" % (name.encode(), orjson.dumps(data)) for name, data in events
    )


def encode_error(error_type: str, message: str) -> bytes:
    return encode([("error", {"type": "error", "error": {"type": error_type, "message": message}})])


class SSEDecoder:
    """Incremental decoder (WHATWG rules): bytes may be cut anywhere, lines end in LF, CRLF or CR,
    `:` lines are comments, `data:` lines of one event are joined with LF, and an event is
    complete at its blank line. Only data matters upstream, so event/id/retry are ignored."""

    __slots__ = ("_buffer", "_data", "_skip_lf", "_started")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] | None = None
        self._skip_lf = False  # the last byte was a CR: an LF right after it ends nothing more
        self._started = False

    def feed(self, data: bytes) -> list[str]:
        if self._skip_lf and data:
            self._skip_lf = False
            if data.startswith(b"\n"):
                data = data[1:]
        buffer = self._buffer + data if self._buffer else data
        if not self._started:
            if len(buffer) < len(_BOM) and _BOM.startswith(buffer):
                self._buffer = buffer
                return []
            self._started = True
            buffer = buffer.removeprefix(_BOM)
        if b"\r" in buffer:
            self._skip_lf = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, self._buffer = buffer.split(b"\n")
        out: list[str] = []
        for line in lines:
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
        out = self.feed(b"\n\n") if self._buffer or self._data is not None else []
        self._buffer = b""
        return out
