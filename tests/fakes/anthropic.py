"""The fakes' own `POST /v1/messages`: a scripted reply as Anthropic SSE events (`event:` lines)
or one message, shaped the way each server's converter shapes it (`AnthropicStyle`, set per
flavour; the recorded streams in tests/gateway/repair/native.py are the reference)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from tests.fakes.flavour import Flavour, UsageCounts, estimate_tokens, split_text
from tests.fakes.render import Plan, error_plan, plan_reply, sse_steps, usage_counts
from tests.fakes.replies import (
    Content,
    Huge,
    Reasoning,
    Reply,
    Text,
    Think,
    ToolCall,
    ToolCalls,
)

__all__ = ["AnthropicRenderer", "MessagesContext", "messages_plan"]

Event = tuple[str, dict[str, Any]]

_SSE_HEADERS = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]
_BROKEN = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"del\n\n'
# OpenAI's finish reasons, as scripts name them, in Anthropic's words; others pass as they are.
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


@dataclass(frozen=True)
class MessagesContext:
    model: str
    stream: bool
    input_tokens: int
    message_id: str


@dataclass(frozen=True)
class _Part:
    kind: str  # "text" | "thinking" | "tool_use"
    text: str = ""
    call: ToolCall | None = None
    call_id: str = ""


def messages_plan(flavour: Flavour, body: Any, take_reply: Callable[[], Reply]) -> Plan:
    """The answer to one POST /v1/messages: refusals first, as the server words them."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return error_plan(flavour.native_error(400, "messages: Field required"))
    model = body.get("model")
    refusal = flavour.check_model(model if isinstance(model, str) else None)
    if refusal is not None:
        kind = "not_found_error" if refusal.status == 404 else "invalid_request_error"
        return error_plan(flavour.native_error(refusal.status, _message_of(refusal), kind))
    prompt_tokens = estimate_tokens(body, "system", "messages", "tools")
    limit = flavour.context_length
    if limit and prompt_tokens > limit:
        overflow = flavour.native_overflow(prompt_tokens, limit)
        if overflow is not None:
            return error_plan(overflow)
        prompt_tokens = limit  # this server silently drops what does not fit
    ctx = MessagesContext(
        model=model if isinstance(model, str) else flavour.models[0],
        stream=body.get("stream") is True,
        input_tokens=prompt_tokens,
        message_id=flavour.new_message_id(),
    )
    return plan_reply(take_reply(), AnthropicRenderer(flavour, ctx))


def _message_of(error: Any) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("message", inner))
        return str(inner)
    return str(body)


class AnthropicRenderer:
    broken = _BROKEN

    def __init__(self, flavour: Flavour, ctx: MessagesContext) -> None:
        self.flavour = flavour
        self.ctx = ctx
        self.style = flavour.anthropic_style()

    @property
    def stream(self) -> bool:
        return self.ctx.stream

    def content(self, reply: Content) -> Plan:
        parts = self._parts(reply)
        counts = usage_counts(reply, self.ctx.input_tokens)
        reason = reply.finish_reason
        stop = _STOP_REASONS.get(reason, reason) if reason else None
        stop = stop or ("tool_use" if isinstance(reply, ToolCalls) else "end_turn")
        if not self.ctx.stream:
            body = orjson.dumps(self._message(parts, stop, counts))
            headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
            return Plan(200, headers, [body])
        events = self._events(parts, stop, counts, reply.chunks)
        frames = [
            b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
            for name, data in events
        ]
        return Plan(200, list(_SSE_HEADERS), sse_steps(frames, reply.delay))

    def _parts(self, reply: Content) -> list[_Part]:
        parts: list[_Part] = []
        if isinstance(reply, Reasoning):
            if self.style.open_until_end:  # one thinking block first, then one text block
                parts = [_Part("thinking", reply.reasoning), _Part("text", reply.lead + reply.text)]
            else:
                parts = [
                    _Part("text", reply.lead),
                    _Part("thinking", reply.reasoning),
                    _Part("text", reply.text),
                ]
        elif isinstance(reply, Think):
            parts = [_Part("text", reply.content)]  # a model without a reasoning parser
        elif isinstance(reply, ToolCalls):
            parts = [_Part("text", reply.text)]
            parts += [
                _Part("tool_use", call=c, call_id=c.id or self.flavour.new_tool_call_id())
                for c in reply.calls
            ]
        else:
            assert isinstance(reply, Text | Huge)
            parts = [_Part("text", reply.text)]
        return [p for p in parts if p.kind == "tool_use" or p.text]

    # --- one message ------------------------------------------------------------------------

    def _message(self, parts: list[_Part], stop: str, counts: UsageCounts) -> dict[str, Any]:
        return {
            "id": self.ctx.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.ctx.model,
            "content": [self._block(p) for p in parts],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {**self._input_usage(counts), "output_tokens": counts.completion},
        }

    def _block(self, part: _Part) -> dict[str, Any]:
        if part.kind == "tool_use":
            assert part.call is not None
            arguments = part.call.arguments
            # Invalid arguments (scripted as a string) go out as the server would pass them on.
            tool_input: Any = dict(arguments) if not isinstance(arguments, str) else arguments
            return {
                "type": "tool_use",
                "id": part.call_id,
                "name": part.call.name,
                "input": tool_input,
            }
        if part.kind == "thinking":
            block = {"type": "thinking", "thinking": part.text}
            if self.style.signature is not None:
                block["signature"] = self.style.signature
            return block
        return {"type": "text", "text": part.text}

    def _input_usage(self, counts: UsageCounts) -> dict[str, int]:
        cached = counts.cached or 0
        usage = {"input_tokens": max(counts.prompt - cached, 0)}
        if cached:
            usage["cache_read_input_tokens"] = cached
        return usage

    # --- a stream ---------------------------------------------------------------------------

    def _events(
        self, parts: list[_Part], stop: str, counts: UsageCounts, chunks: int
    ) -> list[Event]:
        style = self.style
        start_usage = self._input_usage(counts) if style.counts_at_start else {"input_tokens": 0}
        shell: dict[str, Any] = {
            "id": self.ctx.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.ctx.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**start_usage, "output_tokens": 0},
        }
        events: list[Event] = [("message_start", {"type": "message_start", "message": shell})]
        if style.ping:
            events.append(("ping", {"type": "ping"}))
        if style.open_until_end:
            events += self._open_until_end(parts, chunks)
        else:
            events += self._in_order(parts, chunks)
        delta: dict[str, Any] = {"stop_reason": stop}
        if style.stop_sequence:
            delta["stop_sequence"] = None
        usage: dict[str, Any] = {"output_tokens": counts.completion}
        if style.input_in_delta:
            usage = {**self._input_usage(counts), **usage}
        events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    def _in_order(self, parts: list[_Part], chunks: int) -> list[Event]:
        """One block after the other, each closed before the next opens; with `reused_index`,
        ollama#17101: a text block followed by thinking is never closed, the thinking block
        takes its index, and the next text streams at the following index without a start."""
        events: list[Event] = []
        index = 0
        orphan = False  # the text after a reused index: deltas without a start
        for n, part in enumerate(parts):
            after = parts[n + 1] if n + 1 < len(parts) else None
            before = parts[n - 1] if n else None
            reused = self.style.reused_index
            if reused and part.kind == "text" and after is not None and after.kind == "thinking":
                events.append(_start(index, self._shell(part)))
                events += self._deltas(index, part, chunks)
                continue  # not closed, and the index is taken again
            if orphan and part.kind == "text":
                events += self._deltas(index, part, chunks)
                events.append(_stop(index))
                index, orphan = index + 1, False
                continue
            events.append(_start(index, self._shell(part)))
            events += self._deltas(index, part, chunks)
            if part.kind == "thinking" and self.style.signature is not None:
                signature = {"type": "signature_delta", "signature": self.style.signature}
                events.append(_delta(index, signature))
            events.append(_stop(index))
            orphan = reused and part.kind == "thinking" and bool(before and before.kind == "text")
            index += 1
        return events

    def _open_until_end(self, parts: list[_Part], chunks: int) -> list[Event]:
        """llama.cpp: blocks open as their content comes and all close together at the end,
        thinking after an empty signature_delta."""
        events: list[Event] = []
        for index, part in enumerate(parts):
            events.append(_start(index, self._shell(part)))
            events += self._deltas(index, part, chunks)
        for index, part in enumerate(parts):
            if part.kind == "thinking" and self.style.signature is not None:
                signature = {"type": "signature_delta", "signature": self.style.signature}
                events.append(_delta(index, signature))
        events += [_stop(index) for index in range(len(parts))]
        return events

    def _shell(self, part: _Part) -> dict[str, Any]:
        if part.kind == "tool_use":
            assert part.call is not None
            block: dict[str, Any] = {"type": "tool_use", "id": part.call_id, "name": part.call.name}
            if self.style.tool_input_shell:
                block["input"] = {}
            return block
        return {"type": part.kind, part.kind: ""}

    def _deltas(self, index: int, part: _Part, chunks: int) -> list[Event]:
        if part.kind == "tool_use":
            assert part.call is not None
            raw = part.call.arguments_json
            pieces = split_text(raw, chunks) if self.style.tool_pieces else [raw]
            if self.style.empty_first_piece:
                pieces = ["", *pieces]
            return [_delta(index, {"type": "input_json_delta", "partial_json": p}) for p in pieces]
        kind = f"{part.kind}_delta"
        return [_delta(index, {"type": kind, part.kind: p}) for p in split_text(part.text, chunks)]


def _start(index: int, block: dict[str, Any]) -> Event:
    return (
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )


def _delta(index: int, delta: dict[str, Any]) -> Event:
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def _stop(index: int) -> Event:
    return ("content_block_stop", {"type": "content_block_stop", "index": index})
