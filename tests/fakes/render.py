"""Turns a scripted reply into what goes on the wire: status, headers, and a list of steps
(body bytes, pauses, a cut) that the fake server plays back. Faults are the same for every
protocol; a `ContentRenderer` says how content looks in one (OpenAI chunks here, Anthropic
events in tests/fakes/anthropic.py, NDJSON in tests/fakes/ollama_chat.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import orjson

from tests.fakes.flavour import ChatContext, Flavour, UsageCounts, split_text
from tests.fakes.replies import (
    Content,
    CutAfter,
    Error,
    Gate,
    HeadersThenSilence,
    Held,
    Huge,
    MalformedJSON,
    MalformedSSE,
    Reasoning,
    Reply,
    Respond,
    SilenceAfter,
    Stall,
    Text,
    Think,
    ToolCalls,
)

__all__ = [
    "ChatRenderer",
    "ContentRenderer",
    "Cut",
    "Pause",
    "Plan",
    "Step",
    "error_plan",
    "plan_reply",
    "produced_tokens",
    "sse_steps",
    "usage_counts",
]


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Cut:
    """Close the connection where the response stands."""


Step: TypeAlias = bytes | Pause | Cut


@dataclass
class Plan:
    status: int
    headers: list[tuple[str, str]]
    steps: list[Step] = field(default_factory=list)
    # Silence before the status line.
    stall: float = 0.0
    # Gates to wait for before the status line.
    gates: list[Gate] = field(default_factory=list)


class ContentRenderer(Protocol):
    """How one protocol puts a content reply on the wire."""

    @property
    def stream(self) -> bool: ...

    @property
    def broken(self) -> bytes:
        """One event (or line) whose JSON is cut off, for MalformedJSON."""
        ...

    def content(self, reply: Content) -> Plan: ...


_DONE = b"data: [DONE]\n\n"
_BROKEN_JSON = (
    b'data: {"id":"chatcmpl-broken","object":"chat.completion.chunk","choices":[{"del\n\n'
)
_SSE_HEADERS = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]


def plan_reply(reply: Reply, render: ContentRenderer) -> Plan:
    if isinstance(reply, Respond):
        raise TypeError("a Respond reply is made by the server, from the request it answers")
    if isinstance(reply, Error):
        return error_plan(reply)
    if isinstance(reply, Stall):
        plan = plan_reply(reply.then, render)
        plan.stall += reply.seconds
        return plan
    if isinstance(reply, Held):
        plan = plan_reply(reply.then, render)
        plan.gates.insert(0, reply.gate)
        return plan
    if isinstance(reply, HeadersThenSilence):
        plan = plan_reply(reply.then, render)
        plan.steps.insert(0, Pause(reply.seconds))
        return plan
    if isinstance(reply, SilenceAfter):
        return _fault(reply.reply, render, reply.after, Pause(reply.seconds), keep_rest=True)
    if isinstance(reply, CutAfter):
        return _fault(reply.reply, render, reply.after, Cut(), keep_rest=False)
    if isinstance(reply, MalformedJSON):
        return _fault(reply.reply, render, reply.after, render.broken, keep_rest=True)
    if isinstance(reply, MalformedSSE):
        return _fault(reply.reply, render, reply.after, reply.raw, keep_rest=True)
    return render.content(reply)


def error_plan(error: Error) -> Plan:
    if isinstance(error.body, bytes | str):
        body = error.body.encode() if isinstance(error.body, str) else error.body
        content_type = error.content_type or "text/plain; charset=utf-8"
    else:
        body = orjson.dumps(dict(error.body))
        content_type = error.content_type or "application/json"
    headers = [("content-type", content_type), ("content-length", str(len(body)))]
    headers.extend(error.headers.items())
    return Plan(error.status, headers, [body])


def _fault(
    reply: Content, render: ContentRenderer, after: int, fault: Step, *, keep_rest: bool
) -> Plan:
    plan = render.content(reply)
    if render.stream:
        # Count events, not the pauses a slow reply puts between them.
        position, seen = 0, 0
        while position < len(plan.steps) and seen < after:
            seen += isinstance(plan.steps[position], bytes)
            position += 1
        rest = plan.steps[position:] if keep_rest else []
        plan.steps = [*plan.steps[:position], fault, *rest]
        return plan
    # One JSON body: the fault lands in its middle.
    body = b"".join(step for step in plan.steps if isinstance(step, bytes))
    half = len(body) // 2
    if isinstance(fault, Pause):
        plan.steps = [body[:half], fault, body[half:]]
    elif isinstance(fault, Cut):
        plan.steps = [body[:half], fault]
    else:
        broken = body[:half] if fault == render.broken else fault
        plan.headers = [(k, v) for k, v in plan.headers if k != "content-length"]
        plan.headers.append(("content-length", str(len(broken))))
        plan.steps = [broken]
    return plan


class ChatRenderer:
    """OpenAI chat completions: `chat.completion.chunk` events ending in `[DONE]`, or one
    `chat.completion` object, in the flavour's own shapes."""

    broken = _BROKEN_JSON

    def __init__(self, flavour: Flavour, ctx: ChatContext) -> None:
        self.flavour = flavour
        self.ctx = ctx

    @property
    def stream(self) -> bool:
        return self.ctx.stream

    def content(self, reply: Content) -> Plan:
        return _content_plan(reply, self.flavour, self.ctx)


def sse_steps(frames: list[bytes], delay: float) -> list[Step]:
    """Frames with a pause between two (a slow model)."""
    steps: list[Step] = []
    for frame in frames:
        if steps and delay > 0:
            steps.append(Pause(delay))
        steps.append(frame)
    return steps


def _content_plan(reply: Content, flavour: Flavour, ctx: ChatContext) -> Plan:
    ids = (
        [call.id or flavour.new_tool_call_id() for call in reply.calls]
        if isinstance(reply, ToolCalls)
        else []
    )
    counts = usage_counts(reply, ctx.prompt_tokens)
    finish_reason = reply.finish_reason or ("tool_calls" if ids else "stop")
    if not ctx.stream:
        message = _message(reply, flavour, ids)
        body = orjson.dumps(flavour.completion(ctx, message, finish_reason, counts))
        headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
        return Plan(200, headers, [body])

    events: list[dict[str, Any]] = []
    role = flavour.role_delta()
    if role is not None:
        events.append(flavour.chunk(ctx, role))
    for delta in _deltas(reply, flavour, ids):
        events.append(flavour.chunk(ctx, flavour.delta(delta)))
    final = flavour.chunk(ctx, flavour.final_delta(), finish_reason)
    final.update(flavour.final_chunk_extras(ctx, counts))
    events.append(final)
    usage = flavour.usage_chunk(ctx, counts)
    if usage is not None:
        events.append(usage)

    frames = [*(b"data: " + orjson.dumps(e) + b"\n\n" for e in events), _DONE]
    return Plan(200, list(_SSE_HEADERS), sse_steps(frames, reply.delay))


def _deltas(reply: Content, flavour: Flavour, ids: list[str]) -> list[dict[str, Any]]:
    if isinstance(reply, Reasoning):
        lead = [{"content": p} for p in split_text(reply.lead, reply.chunks)]
        thoughts = [{flavour.reasoning_field: p} for p in split_text(reply.reasoning, reply.chunks)]
        return lead + thoughts + [{"content": p} for p in split_text(reply.text, reply.chunks)]
    if isinstance(reply, Think):
        return [{"content": p} for p in split_text(reply.content, reply.chunks)]
    if isinstance(reply, ToolCalls):
        text = [{"content": p} for p in split_text(reply.text, reply.chunks)]
        return text + flavour.tool_call_deltas(reply.calls, ids, reply.chunks)
    if isinstance(reply, Huge):
        # Pieces of about 64 KiB, like a fast model flushing often.
        pieces = max(reply.chunks, reply.size // 65536)
        return [{"content": p} for p in split_text(reply.text, pieces)]
    return [{"content": p} for p in split_text(reply.text, reply.chunks)]


def _message(reply: Content, flavour: Flavour, ids: list[str]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant"}
    if isinstance(reply, Think):
        message["content"] = reply.content
    elif isinstance(reply, ToolCalls):
        message["content"] = reply.text or flavour.empty_content()
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json},
            }
            for call, call_id in zip(reply.calls, ids, strict=True)
        ]
    elif isinstance(reply, Reasoning):
        message["content"] = reply.lead + reply.text
        message[flavour.reasoning_field] = reply.reasoning
    else:
        message["content"] = reply.text
    return message


def produced_tokens(reply: Content) -> int:
    """About four characters of output per token."""
    if isinstance(reply, Reasoning):
        produced = len(reply.lead) + len(reply.reasoning) + len(reply.text)
    elif isinstance(reply, Think):
        produced = len(reply.content)
    elif isinstance(reply, ToolCalls):
        produced = len(reply.text) + sum(len(c.name) + len(c.arguments_json) for c in reply.calls)
    elif isinstance(reply, Huge):
        produced = reply.size
    else:
        assert isinstance(reply, Text)
        produced = len(reply.text)
    return max(1, produced // 4)


def usage_counts(reply: Content, prompt_tokens: int) -> UsageCounts:
    """The counts to report: the script's where it gives them, else the fake's estimates."""
    usage = reply.usage
    prompt = usage.prompt_tokens if usage and usage.prompt_tokens is not None else prompt_tokens
    completion = (
        usage.completion_tokens
        if usage and usage.completion_tokens is not None
        else produced_tokens(reply)
    )
    return UsageCounts(prompt, completion, usage.cached_tokens if usage else None)
