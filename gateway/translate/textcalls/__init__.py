"""Tool calls a model wrote as text, recovered as calls: `sniffer` finds them in a stream (or a
whole answer), `formats` knows each format's opening and closing, `endings` finds where a call's
JSON or tag ends, `reading` reads one into a name and an input."""

from __future__ import annotations

from gateway.translate.textcalls.sniffer import (
    CallPiece,
    Piece,
    TextPiece,
    ToolCallSniffer,
    extract_tool_calls,
)

__all__ = ["CallPiece", "Piece", "TextPiece", "ToolCallSniffer", "extract_tool_calls"]
