"""One repair layer over a native Anthropic backend's stream: the exact grammar Claude Code
needs, whatever the backend's converter got wrong.

Design, where the backend's view and the client's differ:
- Blocks are renumbered 0, 1, 2… in the order they open for the client; the backend's indexes
  are only keys. A start at an index still open closes that block first (ollama#17101: text at
  index 0, then thinking at index 0 without a stop).
- Text and thinking stream as they come. A delta for a block that is not the one open for the
  client (two blocks open at once, or a late delta after the stop) goes to a new block of its
  type: nothing is dropped and only one block is ever open.
- tool_use blocks are held whole and sent at their stop (start, the whole input in one
  input_json_delta, stop): input that arrives for a tool_use block after it closed cannot be
  continued, and the input is checked as JSON before the client sees it.
- Thinking blocks get their signature_delta when they close (a fixed one if the backend sent
  none); message_delta is held until the end, where several are merged into one with usage.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from gateway.errors import UpstreamError
from gateway.repair.blocks import ClientBlocks, Event, Source
from gateway.repair.message import merge_usage, stop_reason_of, text_call, usage_of
from gateway.translate.arguments import parse_arguments
from gateway.translate.response import tool_use_id
from gateway.translate.textcalls import CallPiece, Piece, TextPiece, ToolCallSniffer

__all__ = ["AnthropicStreamRepairer", "Event"]

_DELTA_KINDS = {"text_delta": "text", "thinking_delta": "thinking"}


class AnthropicStreamRepairer:
    """Feed the backend's events in order; forward what comes out. `finish()` at the end of the
    byte stream adds what is missing or raises UpstreamError when the model did not finish.

    An `error` event is passed on as the last event; before any message_start it is passed on
    alone (see `error`), so that the caller can still answer with an HTTP error instead.
    """

    def __init__(
        self,
        *,
        client_model: str,
        message_id: str | None = None,
        tool_names: Collection[str] = (),
        show_thinking: bool = True,
    ) -> None:
        self._client_model = client_model
        # False for `thinking.display: "omitted"`: no thinking block reaches the client (an
        # empty one would only be echoed back).
        self._show_thinking = show_thinking
        self._message_id = message_id
        self._tool_names = tool_names
        self._started = False
        self._early = False  # message_start was sent by start(), before the backend's
        self._finished = False
        self._client = ClientBlocks(self._note)
        self._sources: dict[Any, Source] = {}
        self._stop_reason: str | None = None
        self._stop_sequence: str | None = None
        self._usage = usage_of(None)
        self._deltas = 0
        self._had_tool_use = False
        self._has_content = False
        self._error: dict[str, Any] | None = None
        self.repairs: list[str] = []

    @property
    def has_content(self) -> bool:
        return self._has_content

    @property
    def usage(self) -> dict[str, int]:
        return dict(self._usage)

    @property
    def stop_reason(self) -> str | None:
        if self._had_tool_use and self._stop_reason == "end_turn":
            return "tool_use"
        return self._stop_reason

    @property
    def error(self) -> dict[str, Any] | None:
        """The backend's error event's `error`, once it sent one."""
        return self._error

    def start(self) -> list[Event]:
        """message_start now, before the backend's: the relay commits a silent stream early so
        that pings can flow. The backend's own message_start then only adds its usage."""
        if self._started:
            return []
        out: list[Event] = []
        self._start({"usage": {}}, out)
        self._early = True
        return out

    def feed(self, event: Event) -> list[Event]:
        name, data = event
        if self._finished:
            return []
        if not isinstance(data, dict):
            self._note("an event without an object dropped")
            return []
        out: list[Event] = []
        if name == "message_start":
            if self._early:
                self._early = False
                message = data.get("message")
                merge_usage(
                    self._usage, message.get("usage") if isinstance(message, dict) else None
                )
            elif self._started:
                self._note("a second message_start dropped")
            else:
                self._start(data.get("message"), out)
        elif name == "ping":
            if self._started:
                out.append(("ping", {"type": "ping"}))
        elif name == "error":
            self._fail(data.get("error"), out)
        elif name == "content_block_start":
            self._ensure_started(out)
            self._block_start(data, out)
        elif name == "content_block_delta":
            self._ensure_started(out)
            self._block_delta(data, out)
        elif name == "content_block_stop":
            self._ensure_started(out)
            source = self._sources.get(_key(data.get("index")))
            if source is None or source.closed:
                self._note("a content_block_stop for no open block dropped")
            else:
                self._close_source(source, out)
        elif name == "message_delta":
            self._ensure_started(out)
            self._message_delta(data)
        elif name == "message_stop":
            self._ensure_started(out)
            self._end(out)
        else:
            self._note(f"an unknown event {name!r} dropped")
        return out

    def finish(self) -> list[Event]:
        """The byte stream ended: complete a stream the model finished, else raise."""
        if self._finished:
            return []
        if self._stop_reason is None:
            inside = any(not source.closed for source in self._sources.values())
            where = "inside a content block" if inside else "no stop_reason"
            if not self._started:
                where = "no message_start"
            raise UpstreamError(f"the backend's stream ended before the model finished ({where})")
        out: list[Event] = []
        self._note("the stream ended without message_stop; it was added")
        self._end(out)
        return out

    def message(self) -> dict[str, Any]:
        """The message as a client accumulates it from what was sent so far."""
        return {
            "id": self._id(),
            "type": "message",
            "role": "assistant",
            "model": self._client_model,
            "content": self._client.content(),
            "stop_reason": self.stop_reason,
            "stop_sequence": self._stop_sequence,
            "usage": self.usage,
        }

    def _start(self, message: Any, out: list[Event]) -> None:
        self._started = True
        message = message if isinstance(message, dict) else {}
        if self._message_id is None and isinstance(message.get("id"), str) and message["id"]:
            self._message_id = message["id"]
        if not isinstance(message.get("usage"), dict):
            self._note("usage missing from message_start; zeros sent")
        merge_usage(self._usage, message.get("usage"))
        shell: dict[str, Any] = {
            "id": self._id(),
            "type": "message",
            "role": "assistant",
            "model": self._client_model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self.usage,
        }
        out.append(("message_start", {"type": "message_start", "message": shell}))

    def _ensure_started(self, out: list[Event]) -> None:
        if not self._started:
            self._note("message_start missing; it was added")
            self._start(None, out)

    def _fail(self, error: Any, out: list[Event]) -> None:
        if not isinstance(error, dict):
            error = {}
        kind, text = error.get("type"), error.get("message")
        self._error = {
            "type": kind if isinstance(kind, str) and kind else "api_error",
            "message": text if isinstance(text, str) and text else "the backend reported an error",
        }
        self._finished = True
        out.append(("error", {"type": "error", "error": dict(self._error)}))

    def _block_start(self, data: dict[str, Any], out: list[Event]) -> None:
        key = _key(data.get("index"))
        old = self._sources.get(key)
        if old is not None and not old.closed:
            self._note("a block started at an index still open; the open block was closed first")
            self._close_source(old, out)
        block = data.get("content_block")
        block = block if isinstance(block, dict) else {}
        kind = block.get("type")
        source = Source(kind if isinstance(kind, str) else "text", block)
        self._sources[key] = source
        if source.kind in _DELTA_KINDS.values():
            first = block.get(source.kind)
            if isinstance(first, str) and first:
                self._content(source, source.kind, first, out)

    def _block_delta(self, data: dict[str, Any], out: list[Event]) -> None:
        key = _key(data.get("index"))
        delta = data.get("delta")
        delta = delta if isinstance(delta, dict) else {}
        kind = delta.get("type")
        source = self._sources.get(key)
        if isinstance(kind, str) and kind in _DELTA_KINDS:
            block_kind = _DELTA_KINDS[kind]
            text = delta.get(block_kind)
            if not isinstance(text, str):
                self._note(f"a {kind} without text dropped")
                return
            if source is None:
                self._note("a delta for a block never started; a block was opened for it")
                source = self._sources[key] = Source(block_kind, {"type": block_kind})
            elif source.closed:
                self._note("a delta after its block closed; it went to a new block")
            elif source.kind != block_kind:
                self._note(f"a {kind} in a {source.kind} block; it went to a block of its own")
            self._content(source, block_kind, text, out)
        elif kind == "input_json_delta":
            partial = delta.get("partial_json")
            if source is None or source.kind != "tool_use" or not isinstance(partial, str):
                self._note("an input_json_delta outside a tool_use block dropped")
            elif source.closed:
                self._note("tool input after its block closed dropped")
            else:
                source.parts.append(partial)
        elif kind == "signature_delta":
            signature = delta.get("signature")
            if source is not None and source.kind == "thinking" and isinstance(signature, str):
                source.signature = signature or source.signature
            else:
                self._note("a signature_delta outside a thinking block dropped")
        elif source is not None and not source.closed and source.kind not in _KNOWN:
            source.deltas.append(delta)
        else:
            self._note(f"an unknown delta {kind!r} dropped")

    def _content(self, source: Source, kind: str, text: str, out: list[Event]) -> None:
        if not text or (kind == "thinking" and not self._show_thinking):
            return
        # Late text (its block already closed) is not looked at: nothing would flush it.
        if kind == "text" and self._tool_names and not source.closed:
            if source.sniffer is None:
                source.sniffer = ToolCallSniffer(self._tool_names)
            self._pieces(source, source.sniffer.feed(text), out)
        else:
            self._client.append(source, kind, text, out)
            self._has_content = True

    def _pieces(self, source: Source, pieces: list[Piece], out: list[Event]) -> None:
        for piece in pieces:
            if isinstance(piece, TextPiece):
                self._client.append(source, "text", piece.text, out)
                self._has_content = True
            else:
                self._text_call(piece, out)

    def _close_source(self, source: Source, out: list[Event]) -> None:
        source.closed = True
        if source.sniffer is not None:
            self._pieces(source, source.sniffer.finish(), out)
            self.repairs.extend(source.sniffer.warnings)
            source.sniffer = None
        if source.kind == "tool_use":
            self._tool_block(source, out)
        elif source.kind not in _KNOWN:
            self._other_block(source, out)
        elif self._client.is_open_for(source):
            self._client.close(out)

    def _tool_block(self, source: Source, out: list[Event]) -> None:
        block = source.block
        name = block.get("name")
        if not isinstance(name, str) or not name:
            self._note("a tool_use block without a name dropped")
            return
        raw = "".join(source.parts)
        tool_input: Any = block.get("input")
        if raw.strip() or not isinstance(tool_input, dict):
            tool_input, problem = parse_arguments(raw)
            if problem is not None:
                self._note(f"tool call {name}: input was not clean JSON ({problem})")
        # The gateway's id, never the backend's (some reuse one id on every turn).
        self._tool(tool_use_id(self._id(), len(self._client)), name, tool_input, out)

    def _text_call(self, call: CallPiece, out: list[Event]) -> None:
        block = text_call(call, tool_use_id(self._id(), len(self._client)), self.repairs)
        self._tool(block["id"], call.name, call.input, out)

    def _tool(self, call_id: str, name: str, tool_input: dict[str, Any], out: list[Event]) -> None:
        self._client.tool(call_id, name, tool_input, out)
        self._had_tool_use = self._has_content = True

    def _other_block(self, source: Source, out: list[Event]) -> None:
        self._client.whole(source.block, source.deltas, out)
        self._has_content = True

    def _message_delta(self, data: dict[str, Any]) -> None:
        self._deltas += 1
        if self._deltas == 2:
            self._note("several message_delta events merged into one")
        delta = data.get("delta")
        if isinstance(delta, dict):
            reason = stop_reason_of(delta.get("stop_reason"), self.repairs)
            if reason is not None:
                self._stop_reason = reason
            sequence = delta.get("stop_sequence")
            if isinstance(sequence, str):
                self._stop_sequence = sequence
        if not isinstance(data.get("usage"), dict):
            self._note("message_delta without usage; usage added")
        merge_usage(self._usage, data.get("usage"))

    def _end(self, out: list[Event]) -> None:
        for source in list(self._sources.values()):
            if not source.closed:
                self._note("a block left open at the end was closed")
                self._close_source(source, out)
        self._client.close(out)
        if self._stop_reason is None:
            self._stop_reason = "tool_use" if self._had_tool_use else "end_turn"
            self._note(f"stop_reason missing; {self._stop_reason} sent")
        elif self.stop_reason != self._stop_reason:
            self._note("stop_reason end_turn with a tool call; tool_use sent")
        if not self._deltas:
            self._note("message_delta missing; it was added")
        delta = {"stop_reason": self.stop_reason, "stop_sequence": self._stop_sequence}
        out.append(
            ("message_delta", {"type": "message_delta", "delta": delta, "usage": self.usage})
        )
        out.append(("message_stop", {"type": "message_stop"}))
        self._finished = True

    def _id(self) -> str:
        return self._message_id or "msg_lmgate"

    def _note(self, note: str) -> None:
        if note not in self.repairs:
            self.repairs.append(note)


_KNOWN = frozenset({"text", "thinking", "tool_use"})


def _key(index: Any) -> Any:
    """The backend's index as a key (events without one share the key None)."""
    return index if isinstance(index, int) and not isinstance(index, bool) else None
