"""Tool calls that models write as text instead of as tool calls, turned into calls.

Only text that starts a line with a recognised marker is held back (a bare JSON object or list,
`<tool_call>`, `<function=…>`, `[TOOL_CALLS]`, `<|python_tag|>`, a ``` fence around any of them);
it is let go as text the moment it can no longer be a call to a declared tool. Everything else
streams straight through.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.translate.textcalls.endings import JsonScan, TagScan
from gateway.translate.textcalls.formats import FAIL, MAYBE, Opening, classify, closing
from gateway.translate.textcalls.reading import Unreadable, read_calls

__all__ = ["CallPiece", "Piece", "TextPiece", "ToolCallSniffer", "extract_tool_calls"]

# An opening still undecided after this many characters is not one.
_MAX_OPENING = 256
_MARKERS = frozenset("{[<`●")


@dataclass(frozen=True, slots=True)
class TextPiece:
    text: str


@dataclass(frozen=True, slots=True)
class CallPiece:
    name: str
    input: dict[str, Any]
    repaired: str | None = None  # what was fixed to read it; None when it read clean
    format: str = ""  # the format it was written in, e.g. "<tool_call>"

    @property
    def note(self) -> str:
        """The repair, as the request's record says it."""
        note = f"tool call written as text repaired ({self.format} format)"
        return f"{note}: {self.repaired}" if self.repaired else note


Piece = TextPiece | CallPiece


class _Candidate:
    """Text held from a marker on, while it may still be a call."""

    __slots__ = ("body_end", "close_start", "gap", "parts", "plan", "scan", "size", "truncated")

    def __init__(self, gap: str) -> None:
        self.gap = gap  # the blank before the marker on its line: dropped with a call
        self.parts: list[str] = []
        self.size = 0
        self.plan: Opening | None = None
        self.scan: JsonScan | TagScan | None = None
        self.body_end = -1
        self.close_start = -1
        self.truncated = False


class ToolCallSniffer:
    """Feed a model's text in pieces; get text and calls out, in order.

    `tool_names` may be a mapping of names to input schemas (or to the tools themselves); the
    schemas then type the values of `<parameter=…>` calls, which otherwise stay strings, as
    nothing is guessed.
    """

    __slots__ = ("_after_call", "_cand", "_gap", "_line_start", "_schemas", "_tools", "warnings")

    def __init__(self, tool_names: Collection[str]) -> None:
        self._tools = frozenset(tool_names)
        self._schemas: Mapping[str, Any] = tool_names if isinstance(tool_names, Mapping) else {}
        self._line_start = True  # the next character starts a line (or the text)
        self._gap = ""  # blank text at a line start, held until the next character decides
        self._after_call = False  # blank text right after a call is dropped
        self._cand: _Candidate | None = None
        self.warnings: list[str] = []

    def feed(self, text: str) -> list[Piece]:
        if not self._tools:
            return [TextPiece(text)] if text else []
        if not text:
            return []
        if self._cand is None and not self._line_start and not self._after_call:
            newline = text.find("\n")
            if newline < 0 or newline == len(text) - 1:
                # The common case, no line starts inside: straight through.
                self._line_start = newline >= 0
                return [TextPiece(text)]
        out: list[Piece] = []
        self._consume(text, out, final=False)
        return _merged(out)

    def finish(self) -> list[Piece]:
        out: list[Piece] = []
        if self._cand is not None:
            self._consume("", out, final=True)
        if self._gap and not self._after_call:
            out.append(TextPiece(self._gap))
        self._gap, self._line_start, self._after_call = "", True, False
        return _merged(out)

    def _consume(self, text: str, out: list[Piece], final: bool) -> None:
        while True:
            if self._cand is not None:
                text = self._push(text, out, final)
                if self._cand is not None:
                    return
            if not text:
                return
            text = self._scan(text, out)

    def _scan(self, text: str, out: list[Piece]) -> str:
        """Let text through up to a marker at a line start; return the text from the marker on
        (a candidate now holds it), or "" when all of it went through."""
        if self._gap:
            text, self._gap = self._gap + text, ""
        if self._after_call:
            text = text.lstrip()
            if not text:
                return ""
            self._after_call, self._line_start = False, True
        n = len(text)
        at = 0 if self._line_start else _next_line(text, 0)
        while at >= 0:
            j = at
            while j < n and text[j] in " \t":
                j += 1
            if j == n:
                if at:
                    out.append(TextPiece(text[:at]))
                self._gap, self._line_start = text[at:], True
                return ""
            if text[j] in _MARKERS:
                if at:
                    out.append(TextPiece(text[:at]))
                self._cand, self._line_start = _Candidate(text[at:j]), False
                return text[j:]
            at = _next_line(text, j)
        out.append(TextPiece(text))
        self._line_start = False
        return ""

    def _push(self, text: str, out: list[Piece], final: bool) -> str:
        """Give the candidate more text; return what follows it once it is decided."""
        cand = self._cand
        assert cand is not None
        base = cand.size
        if text:
            cand.parts.append(text)
            cand.size += len(text)
        start = 0
        if cand.plan is None:
            head = "".join(cand.parts)
            cand.parts = [head]
            long = len(head) > _MAX_OPENING
            verdict = classify(head[:_MAX_OPENING], self._tools, final or long)
            if verdict == FAIL:
                return self._reject(out)
            if verdict == MAYBE:
                return ""
            assert isinstance(verdict, Opening)
            cand.plan, base, text, start = verdict, 0, head, verdict.body_start
            if verdict.body == "function":
                cand.scan = TagScan(
                    ("</function>", "</tool_call>") if verdict.tool_call else ("</function>",)
                )
            else:
                cand.scan = JsonScan(self._tools if verdict.body == "call" else None)
        plan, scan = cand.plan, cand.scan
        assert scan is not None
        if cand.body_end < 0:
            end = scan.feed(text, start) if text else None
            if scan.failed:
                return self._reject(out)
            if end is None:
                if not final:
                    return ""
                cand.body_end = cand.close_start = cand.size
                cand.truncated = True
            else:
                cand.close_start = base + end
                cand.body_end = cand.close_start - scan.trim
        full = "".join(cand.parts)
        cand.parts = [full]
        decided = closing(full[cand.close_start :], plan, final)
        if decided == MAYBE:
            return ""
        if decided == FAIL:
            return self._reject(out)
        assert isinstance(decided, tuple)
        taken, notes = decided
        if plan.body == "function" and not scan.trim and not cand.truncated:
            notes.insert(0, "missing </function>")  # it ended at </tool_call>
        end = cand.close_start + taken
        calls = self._read(cand, full[plan.body_start : cand.body_end])
        if calls is None:
            return self._reject(out)
        if not calls:
            # A call that could not be read stays text, whole: looking inside it again would
            # only find the same call.
            out.append(TextPiece(cand.gap + full[:end]))
            self._cand, self._line_start = None, full[:end].endswith("\n")
            return full[end:]
        for name, arguments, more in calls:
            repaired = "; ".join([*more, *notes]) or None
            out.append(CallPiece(name, arguments, repaired, plan.format))
        self._cand = None
        self._after_call = self._line_start = True
        return full[end:]

    def _read(
        self, cand: _Candidate, body: str
    ) -> list[tuple[str, dict[str, Any], list[str]]] | None:
        """The calls; None when it is not a call; [] when it is one that cannot be read."""
        plan, scan = cand.plan, cand.scan
        assert plan is not None and scan is not None
        closers = scan.closers() if isinstance(scan, JsonScan) else ""
        try:
            result = read_calls(
                plan,
                body,
                closers=closers,
                truncated=cand.truncated,
                tools=self._tools,
                schemas=self._schemas,
            )
        except Unreadable as error:
            name = plan.name or (scan.name if isinstance(scan, JsonScan) else "")
            if not name:
                return None  # not known to be a call to a declared tool: just text
            self.warnings.append(
                f"a call to {name} written as text ({plan.format}) could not be read"
                f" ({error}); it was left as text"
            )
            return []
        if result is None:
            return None
        calls, notes = result
        return [(name, arguments, notes) for name, arguments in calls]

    def _reject(self, out: list[Piece]) -> str:
        """Not a call: its first character goes out as text, the rest is looked at again."""
        cand = self._cand
        assert cand is not None
        full = "".join(cand.parts)
        out.append(TextPiece(cand.gap + full[:1]))
        self._cand, self._line_start = None, False
        return full[1:]


def extract_tool_calls(text: str, tool_names: Collection[str]) -> tuple[list[Piece], list[str]]:
    """A whole text's pieces and the warnings about calls that could not be read."""
    sniffer = ToolCallSniffer(tool_names)
    pieces = sniffer.feed(text) + sniffer.finish()
    return _merged(pieces), sniffer.warnings


def _next_line(text: str, i: int) -> int:
    newline = text.find("\n", i)
    return newline + 1 if newline >= 0 else -1


def _merged(pieces: list[Piece]) -> list[Piece]:
    if len(pieces) < 2:
        return pieces
    out: list[Piece] = []
    for piece in pieces:
        last = out[-1] if out else None
        if isinstance(piece, TextPiece) and isinstance(last, TextPiece):
            out[-1] = TextPiece(last.text + piece.text)
        elif not (isinstance(piece, TextPiece) and not piece.text):
            out.append(piece)
    return out
