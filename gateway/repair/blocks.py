"""The client's side of a repaired stream: blocks numbered in the order they open, one open at
a time, a thinking block signed as it closes, a tool_use block sent whole."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from gateway.translate.stream import Event
from gateway.translate.textcalls import ToolCallSniffer
from gateway.translate.thinking import SIGNATURE

__all__ = ["ClientBlocks", "Event", "Source"]


class Source:
    """A block as the backend opened it (under its own index)."""

    __slots__ = ("block", "closed", "deltas", "kind", "parts", "signature", "sniffer")

    def __init__(self, kind: str, block: dict[str, Any]) -> None:
        self.kind = kind
        self.block = block
        self.closed = False
        self.parts: list[str] = []  # tool_use: the input JSON as it came
        self.deltas: list[dict[str, Any]] = []  # a block type this layer does not know
        self.signature = ""
        self.sniffer: ToolCallSniffer | None = None


class ClientBlocks:
    """What the client is sent, and the content it will have accumulated."""

    __slots__ = ("_blocks", "_note", "_open", "_parts")

    def __init__(self, note: Callable[[str], None]) -> None:
        self._note = note
        self._blocks: list[dict[str, Any]] = []
        self._parts: list[list[str]] = []
        self._open: tuple[str, int, Source] | None = None  # kind, index, whose content

    def __len__(self) -> int:
        return len(self._blocks)

    def is_open_for(self, source: Source) -> bool:
        return self._open is not None and self._open[2] is source

    def append(self, source: Source, kind: str, text: str, out: list[Event]) -> None:
        """Text or thinking from `source`: continue its open block or open one."""
        now = self._open
        if now is None or now[2] is not source or now[0] != kind:
            shell: dict[str, Any] = {"type": "text", "text": ""}
            if kind == "thinking":
                shell = {"type": "thinking", "thinking": "", "signature": ""}
            now = (kind, self._start(shell, out), source)
            self._open = now
        self._parts[now[1]].append(text)
        body = {"type": "text_delta", "text": text}
        if kind == "thinking":
            body = {"type": "thinking_delta", "thinking": text}
        out.append(_delta(now[1], body))

    def close(self, out: list[Event]) -> None:
        now, self._open = self._open, None
        if now is None:
            return
        kind, index, source = now
        if kind == "thinking":
            signature = source.signature
            if not signature:
                signature = SIGNATURE
                self._note("thinking block without a signature signed")
            self._blocks[index]["signature"] = signature
            out.append(_delta(index, {"type": "signature_delta", "signature": signature}))
        out.append(_stop(index))

    def tool(self, call_id: str, name: str, tool_input: dict[str, Any], out: list[Event]) -> None:
        index = self._start({"type": "tool_use", "id": call_id, "name": name, "input": {}}, out)
        self._blocks[index]["input"] = tool_input
        body = {"type": "input_json_delta", "partial_json": orjson.dumps(tool_input).decode()}
        out += [_delta(index, body), _stop(index)]

    def whole(self, block: dict[str, Any], deltas: list[dict[str, Any]], out: list[Event]) -> None:
        """A block of a type this layer does not know (redacted_thinking…), as it came."""
        index = self._start(block, out)
        out += [*(_delta(index, delta) for delta in deltas), _stop(index)]

    def content(self) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = []
        for block, parts in zip(self._blocks, self._parts, strict=True):
            kind = block["type"]
            if kind in ("text", "thinking"):
                content.append({**block, kind: "".join(parts)})
            else:
                content.append(dict(block))
        return content

    def _start(self, shell: dict[str, Any], out: list[Event]) -> int:
        self.close(out)
        index = len(self._blocks)
        self._blocks.append(dict(shell))
        self._parts.append([])
        start = {"type": "content_block_start", "index": index, "content_block": shell}
        out.append(("content_block_start", start))
        return index


def _delta(index: int, body: dict[str, Any]) -> Event:
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": body})


def _stop(index: int) -> Event:
    return ("content_block_stop", {"type": "content_block_stop", "index": index})
