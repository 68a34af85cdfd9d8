"""Split `<think>…</think>` reasoning out of a model's content, however the text is chunked."""

from __future__ import annotations

__all__ = ["SIGNATURE", "ThinkTagSplitter"]

# Anthropic requires a signature on every thinking block; local reasoning has none to give, and
# the gateway drops thinking history before it reaches a backend, so a fixed marker is enough.
SIGNATURE = "lmgate-local-reasoning"

_OPEN = "<think>"
_CLOSE = "</think>"

Piece = tuple[str, str]

# Where the splitter is: _LEAD before any output or right after `</think>` (a `<think>` may
# open here), _THINK inside a thinking span, _TEXT in plain text (tags are literal text now).
_LEAD, _THINK, _TEXT = 0, 1, 2


class ThinkTagSplitter:
    """Feed content pieces in; get ("thinking", text) and ("text", text) pieces out.

    A `<think>` opens reasoning only as the first non-blank output (or again right after a
    `</think>`): models that reason in tags always start with it, and a `<think>` written later
    in an answer is more likely prose about the tag. Whitespace between the spans is dropped.
    """

    __slots__ = ("_fresh", "_leading", "_mode", "_pending")

    def __init__(self) -> None:
        self._mode = _LEAD
        self._pending = ""
        self._leading = True  # at the start of the whole output (its blank prefix is kept)
        self._fresh = False  # at the start of a thinking span (its blank prefix is dropped)

    def feed(self, text: str) -> list[Piece]:
        if self._mode == _TEXT:
            return [("text", text)] if text else []
        out: list[Piece] = []
        buf = self._pending + text
        self._pending = ""
        while buf:
            if self._mode == _LEAD:
                body = buf.lstrip()
                if not body or (len(body) < len(_OPEN) and _OPEN.startswith(body)):
                    self._pending = buf  # blank so far, or a `<think>` cut short
                    break
                if body.startswith(_OPEN):
                    self._mode, self._fresh, self._leading = _THINK, True, False
                    buf = body[len(_OPEN) :]
                    continue
                self._mode = _TEXT
                out.append(("text", buf if self._leading else body))
                break
            if self._mode == _THINK:
                if self._fresh:
                    buf = buf.lstrip()
                    if not buf:
                        break
                    self._fresh = False
                end = buf.find(_CLOSE)
                if end >= 0:
                    if end:
                        out.append(("thinking", buf[:end]))
                    self._mode = _LEAD
                    buf = buf[end + len(_CLOSE) :]
                    continue
                keep = _partial_tail(buf, _CLOSE)
                if keep < len(buf):
                    out.append(("thinking", buf[: len(buf) - keep]))
                self._pending = buf[len(buf) - keep :]
                break
            out.append(("text", buf))
            break
        return out

    def flush(self) -> list[Piece]:
        """End of output: a tag cut short is what it was inside of; an unclosed span is thinking."""
        pending, self._pending = self._pending, ""
        if not pending:
            return []
        if self._mode == _THINK:
            return [("thinking", pending)]
        if not self._leading:
            pending = pending.lstrip()
        return [("text", pending)] if pending else []


def _partial_tail(buf: str, tag: str) -> int:
    """Length of the longest suffix of `buf` that is a proper prefix of `tag` (tags start `<`)."""
    start = buf.rfind("<", max(0, len(buf) - len(tag) + 1))
    if start >= 0 and tag.startswith(buf[start:]):
        return len(buf) - start
    return 0
