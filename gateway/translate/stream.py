"""The stream state machine: OpenAI chat-completion chunks in, Anthropic SSE events out."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson

from gateway.errors import UpstreamError
from gateway.translate.arguments import parse_arguments
from gateway.translate.response import map_stop_reason, map_usage, tool_use_id
from gateway.translate.textcalls import CallPiece, Piece, ToolCallSniffer
from gateway.translate.thinking import SIGNATURE, ThinkTagSplitter

__all__ = ["Event", "StreamTranslator", "events_from_message", "message_start"]

Event = tuple[str, dict[str, Any]]

_SIGNATURE_DELTA: dict[str, Any] = {"type": "signature_delta", "signature": SIGNATURE}


class _ToolCall:
    """One OpenAI tool call (by its `index`) on its way to becoming a tool_use block."""

    __slots__ = ("arguments", "block", "id", "name", "warned")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []
        self.block: int | None = None  # our content index once opened
        self.warned = False


class StreamTranslator:
    """Anthropic's grammar, kept whatever the backend sends: one block open at a time, indexes
    0, 1, 2…, every block closed before the next opens, usage and stop reason only at the end
    (a backend's finish_reason arrives before its usage chunk).

    With `tool_names`, calls the model wrote as text become tool_use blocks (`textcalls`);
    without, the text is not looked at."""

    def __init__(
        self,
        *,
        message_id: str,
        client_model: str,
        input_tokens: int = 0,
        tool_names: Collection[str] = (),
        show_thinking: bool = True,
    ) -> None:
        self._message_id = message_id
        self._show_thinking = show_thinking  # False for `thinking.display: "omitted"`
        self._client_model = client_model
        self._input_tokens = input_tokens
        self._started = False
        self._finished = False
        self._blocks: list[dict[str, Any]] = []
        self._parts: list[list[str]] = []  # the text of each block, in pieces
        self._open: str | None = None  # type of the open block (its index is len(blocks) - 1)
        self._splitter = ThinkTagSplitter()
        self._tools: dict[int, _ToolCall] = {}
        self._last_tool: int | None = None
        self._finish_reason: str | None = None
        self._usage: dict[str, int] | None = None
        self._warnings: list[str] = []
        self._has_content = False
        self._had_tool_use = False
        self._sniffer = ToolCallSniffer(tool_names) if tool_names else None
        self._repairs: list[str] = []

    @property
    def has_content(self) -> bool:
        return self._has_content

    @property
    def usage(self) -> dict[str, int]:
        if self._usage is not None:
            return self._usage
        return {
            "input_tokens": self._input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 0,
        }

    @property
    def stop_reason(self) -> str | None:
        if self._finish_reason is None:
            return None
        return map_stop_reason(self._finish_reason, had_tool_use=self._had_tool_use)

    @property
    def warnings(self) -> list[str]:
        return self._warnings

    @property
    def repairs(self) -> list[str]:
        """What was changed on the way, e.g. a tool call written as text made a call."""
        return self._repairs

    def start(self) -> list[Event]:
        if self._started:
            return []
        self._started = True
        return [message_start(self._message_id, self._client_model, self._input_tokens)]

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        events = self.start() if not self._started else []
        # Backends are not trusted to send well-formed chunks: anything of the wrong shape is
        # skipped, never a crash.
        usage = chunk.get("usage")
        if usage and isinstance(usage, dict):
            self._usage = map_usage(usage)
        choices = chunk.get("choices")
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            return events
        choice = choices[0]
        delta = choice.get("delta")
        if delta and isinstance(delta, dict):
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning and isinstance(reasoning, str):
                self._has_content = True
                self._append("thinking", reasoning, events)
            content = delta.get("content")
            if content and isinstance(content, str):
                self._has_content = True
                for kind, text in self._splitter.feed(content):
                    if kind == "text" and self._sniffer is not None:
                        self._sniffed(self._sniffer.feed(text), events)
                    else:
                        self._append(kind, text, events)
            calls = delta.get("tool_calls")
            if not calls and isinstance(delta.get("function_call"), dict):
                calls = [{"index": 0, "function": delta["function_call"]}]
            if calls and isinstance(calls, list):
                for call in calls:
                    if isinstance(call, dict):
                        self._tool_delta(call, events)
        finish_reason = choice.get("finish_reason")
        if finish_reason and isinstance(finish_reason, str):
            self._finish_reason = finish_reason
        return events

    def finish(self) -> list[Event]:
        if self._finished:
            return []
        events = self.start() if not self._started else []
        for kind, text in self._splitter.flush():
            if kind == "text" and self._sniffer is not None:
                self._sniffed(self._sniffer.feed(text), events)
            else:
                self._append(kind, text, events)
        if self._sniffer is not None:
            self._sniffed(self._sniffer.finish(), events)
            self._warnings.extend(self._sniffer.warnings)
            self._sniffer = None
        if self._finish_reason is None:
            raise UpstreamError(
                "the backend's stream ended before the model finished (no finish_reason)"
            )
        self._finished = True
        self._close(events)
        self._check_arguments()
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                    "usage": self.usage,
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    def message(self) -> dict[str, Any]:
        message = _message_shell(self._message_id, self._client_model)
        content: list[dict[str, Any]] = message["content"]
        for block, parts in zip(self._blocks, self._parts, strict=True):
            kind = block["type"]
            if kind == "tool_use":
                content.append({**block, "input": parse_arguments("".join(parts))[0]})
            elif kind == "thinking":
                content.append({**block, "thinking": "".join(parts), "signature": SIGNATURE})
            else:
                content.append({**block, kind: "".join(parts)})
        message["stop_reason"] = self.stop_reason
        message["usage"] = self.usage
        return message

    def _append(self, kind: str, text: str, events: list[Event]) -> None:
        """Text or thinking: continue the open block of that type, or open one."""
        if kind == "thinking" and not self._show_thinking:
            return  # no thinking block at all: an empty one would only be echoed back
        if self._open != kind:
            if kind == "text":
                self._open_block({"type": "text", "text": ""}, events)
            else:
                self._open_block({"type": "thinking", "thinking": "", "signature": ""}, events)
        index = len(self._blocks) - 1
        self._parts[index].append(text)
        if kind == "text":
            delta = {"type": "text_delta", "text": text}
        else:
            delta = {"type": "thinking_delta", "thinking": text}
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        )

    def _sniffed(self, pieces: list[Piece], events: list[Event]) -> None:
        for piece in pieces:
            if isinstance(piece, CallPiece):
                self._text_call(piece, events)
            else:
                self._append("text", piece.text, events)

    def _text_call(self, call: CallPiece, events: list[Event]) -> None:
        """A call the model wrote as text, as the tool_use block it meant (input in one delta)."""
        index = len(self._blocks)
        block = {
            "type": "tool_use",
            "id": tool_use_id(self._message_id, index),
            "name": call.name,
            "input": {},
        }
        self._open_block(block, events)
        self._tool_json(index, orjson.dumps(call.input).decode(), events)
        self._close(events)
        self._had_tool_use = True
        self._repairs.append(call.note)

    def _tool_delta(self, call: dict[str, Any], events: list[Event]) -> None:
        key = call.get("index")
        if not isinstance(key, int):
            # No index (some older servers): a new id starts a new call, anything else continues.
            last = self._tools.get(self._last_tool) if self._last_tool is not None else None
            call_id = call.get("id")
            if last is None or (call_id and last.id and call_id != last.id):
                key = max(self._tools, default=-1) + 1
            else:
                key = self._last_tool
        assert key is not None
        tool = self._tools.get(key)
        if tool is None:
            tool = self._tools[key] = _ToolCall()
        self._last_tool = key
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        arguments = function.get("arguments")
        closed = self._open != "tool_use" or tool.block != len(self._blocks) - 1
        if tool.block is not None and closed:
            if (arguments or function.get("name")) and not tool.warned:
                tool.warned = True
                self._warnings.append(
                    f"tool call {key} ({tool.name}) continued after its block was closed;"
                    " the late part was dropped"
                )
            return
        self._has_content = True
        if tool.id is None and call.get("id"):
            tool.id = call["id"]
        name = function.get("name")
        if tool.name is None and name and isinstance(name, str):
            tool.name = name
        if arguments and isinstance(arguments, str):
            tool.arguments.append(arguments)
        if tool.block is None:
            if tool.name is None:
                return  # Anthropic's content_block_start needs the name: wait for it.
            self._had_tool_use = True
            index = len(self._blocks)
            # Never the backend's own id: several local servers send `call_1` on every turn.
            block = {
                "type": "tool_use",
                "id": tool_use_id(self._message_id, index),
                "name": tool.name,
                "input": {},
            }
            self._open_block(block, events)
            tool.block = index
            pending = "".join(tool.arguments)
            if pending:
                self._tool_json(index, pending, events)
        elif arguments and isinstance(arguments, str):
            self._tool_json(tool.block, arguments, events)

    def _tool_json(self, index: int, partial: str, events: list[Event]) -> None:
        """Arguments are held until the call's block closes (see `_close_tool`)."""
        self._parts[index].append(partial)

    def _open_block(self, block: dict[str, Any], events: list[Event]) -> None:
        self._close(events)
        index = len(self._blocks)
        self._blocks.append(block)
        self._parts.append([])
        self._open = block["type"]
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": dict(block)},
            )
        )

    def _close(self, events: list[Event]) -> None:
        if self._open is None:
            return
        index = len(self._blocks) - 1
        if self._open == "thinking":
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": _SIGNATURE_DELTA},
                )
            )
        elif self._open == "tool_use":
            self._close_tool(index, events)
        self._open = None
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))

    def _close_tool(self, index: int, events: list[Event]) -> None:
        """A call's arguments, read (and repaired where a light repair can) once whole, as one
        input_json_delta of a JSON object: what Anthropic's API streams without the
        fine-grained tool streaming beta, so a client never has input it cannot parse (a model
        that wrote `{"a": 1,}` or `0` would otherwise fail the client's whole turn)."""
        tool_input, note = parse_arguments("".join(self._parts[index]))
        if note is not None:
            self._warnings.append(
                f"tool call {self._blocks[index]['name']}: arguments were not clean JSON ({note})"
            )
        text = orjson.dumps(tool_input).decode()
        self._parts[index] = [text]
        delta = {"type": "input_json_delta", "partial_json": text}
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        )

    def _check_arguments(self) -> None:
        for key, tool in self._tools.items():
            if tool.block is None:
                self._warnings.append(f"tool call {key} never got a name; it was dropped")


_MESSAGE_KEYS = frozenset(
    {"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}
)


def events_from_message(message: dict[str, Any]) -> list[Event]:
    """A complete message as the event sequence a stream of it would have produced. Auto
    mode's verdicts ride the final message_delta's delta; other fields beyond the message's own
    (context_management…) its top level; neither goes in the message_start."""
    extra = {
        key: value
        for key, value in message.items()
        if key not in _MESSAGE_KEYS and key != "safeguard_results"
    }
    start = {k: v for k, v in message.items() if k in _MESSAGE_KEYS}
    start.update(content=[], stop_reason=None, stop_sequence=None)
    usage: dict[str, Any] = {
        "input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 0,
        **(message.get("usage") or {}),
    }
    start["usage"] = {**usage, "output_tokens": 0}
    events: list[Event] = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message.get("content") or []):
        kind = block.get("type")
        deltas: list[dict[str, Any]] = []
        if kind == "text":
            shell: dict[str, Any] = {"type": "text", "text": ""}
            if block["text"]:
                deltas.append({"type": "text_delta", "text": block["text"]})
        elif kind == "thinking":
            shell = {"type": "thinking", "thinking": "", "signature": ""}
            if block["thinking"]:
                deltas.append({"type": "thinking_delta", "thinking": block["thinking"]})
            deltas.append({"type": "signature_delta", "signature": block.get("signature") or ""})
        elif kind == "tool_use":
            shell = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            partial = orjson.dumps(block.get("input") or {}).decode()
            deltas.append({"type": "input_json_delta", "partial_json": partial})
        else:
            shell = dict(block)
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": shell},
            )
        )
        events.extend(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            for d in deltas
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": message.get("stop_reason"),
                    "stop_sequence": message.get("stop_sequence"),
                    **(
                        {"safeguard_results": message["safeguard_results"]}
                        if "safeguard_results" in message
                        else {}
                    ),
                },
                "usage": usage,
                **extra,
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def message_start(message_id: str, client_model: str, input_tokens: int) -> Event:
    """The message_start a stream opens with, before the model has said anything."""
    message = _message_shell(message_id, client_model)
    message["usage"] = {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 0,
    }
    return ("message_start", {"type": "message_start", "message": message})


def _message_shell(message_id: str, client_model: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": client_model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
    }
