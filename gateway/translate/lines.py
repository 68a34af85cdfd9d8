"""Lines out of a byte stream cut anywhere, in time linear in the bytes, and bounded in length.

A line that is still open is kept as a list of pieces, never re-joined on each read: joining
the held buffer with every new read (`buffer + data`, then a split over all of it) copies a
long line once per read, which made one 50 MB line cost minutes. A line past `limit` bytes
raises LineTooLong as soon as the limit is passed, before the rest of it arrives.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_LINE", "LineSplitter", "LineTooLong"]

# Far above any real chunk (a token, a tool call's arguments, a final usage object), far below
# what would hurt the gateway's memory.
DEFAULT_MAX_LINE = 4 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"


class LineTooLong(ValueError):
    """A line (or an SSE event's data) longer than the limit."""

    def __init__(self, limit: int, what: str = "line") -> None:
        super().__init__(f"a stream {what} longer than {limit:,} bytes")
        self.limit = limit
        self.what = what


class LineSplitter:
    """Complete lines from data cut anywhere. `sse`: WHATWG rules (lines end in LF, CRLF or
    CR, a leading BOM is dropped); otherwise lines end in LF (NDJSON), a CR staying in the
    line. `limit` None: no bound."""

    __slots__ = ("_parts", "_size", "_skip_lf", "_started", "limit", "sse")

    def __init__(self, *, sse: bool, limit: int | None = DEFAULT_MAX_LINE) -> None:
        self.sse = sse
        self.limit = limit
        self._parts: list[bytes] = []  # the open line, in pieces: none holds a line end
        self._size = 0
        self._skip_lf = False  # the last byte was a CR: an LF right after it ends nothing more
        self._started = not sse

    @property
    def pending(self) -> bool:
        """Part of a line has arrived without its end."""
        return self._size > 0

    def split(self, data: bytes) -> list[bytes]:
        """The lines completed by `data`."""
        if self._skip_lf and data:
            self._skip_lf = False
            if data.startswith(b"\n"):
                data = data[1:]
        if not self._started:
            data = b"".join(self._parts) + data
            self._parts, self._size = [], 0
            if len(data) < len(_BOM) and _BOM.startswith(data):
                self._keep(data)
                return []
            self._started = True
            data = data.removeprefix(_BOM)
        if self.sse and b"\r" in data:
            self._skip_lf = data.endswith(b"\r")
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" not in data:
            self._keep(data)
            return []
        lines = data.split(b"\n")
        rest = lines.pop()
        if self._parts:
            lines[0] = b"".join(self._parts) + lines[0]
            self._parts, self._size = [], 0
        limit = self.limit
        if limit is not None and len(lines[0]) > limit:
            raise LineTooLong(limit)
        if limit is not None and len(data) > limit and max(map(len, lines)) > limit:
            raise LineTooLong(limit)
        self._keep(rest)
        return lines

    def flush(self) -> bytes:
        """The open line without its end (the stream ended), and a fresh start."""
        rest = b"".join(self._parts)
        self._parts, self._size = [], 0
        return rest

    def _keep(self, data: bytes) -> None:
        if not data:
            return
        self._parts.append(data)
        self._size += len(data)
        if self.limit is not None and self._size > self.limit:
            self._parts, self._size = [], 0  # what was held goes now, not with the decoder
            raise LineTooLong(self.limit)
