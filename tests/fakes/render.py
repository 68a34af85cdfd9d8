"""Turns a scripted reply into what goes on the wire: status, headers, and a list of steps
(body bytes, pauses, a cut) that the fake server plays back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import orjson

from tests.fakes.flavour import ChatContext, Flavour, UsageCounts, split_text
from tests.fakes.replies import (
    Content,
    CutAfter,
    Error,
    HeadersThenSilence,
    Huge,
    MalformedJSON,
    MalformedSSE,
    Reasoning,
    Reply,
    SilenceAfter,
    Stall,
    Text,
    Think,
    ToolCalls,
)

__all__ = ["Cut", "Pause", "Plan", "Step", "plan_reply"]


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


_DONE = b"data: [DONE]\n\n"
_BROKEN_JSON = (
    b'data: {"id":"chatcmpl-broken","object":"chat.completion.chunk","choices":[{"del\n\n'
)
_SSE_HEADERS = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]


def plan_reply(reply: Reply, flavour: Flavour, ctx: ChatContext) -> Plan:
    if isinstance(reply, Error):
        return _error_plan(reply)
    if isinstance(reply, Stall):
        plan = plan_reply(reply.then, flavour, ctx)
        plan.stall += reply.seconds
        return plan
    if isinstance(reply, HeadersThenSilence):
        plan = plan_reply(reply.then, flavour, ctx)
        plan.steps.insert(0, Pause(reply.seconds))
        return plan
    if isinstance(reply, SilenceAfter):
        return _fault(reply.reply, flavour, ctx, reply.after, Pause(reply.seconds), keep_rest=True)
    if isinstance(reply, CutAfter):
        return _fault(reply.reply, flavour, ctx, reply.after, Cut(), keep_rest=False)
    if isinstance(reply, MalformedJSON):
        return _fault(reply.reply, flavour, ctx, reply.after, _BROKEN_JSON, keep_rest=True)
    if isinstance(reply, MalformedSSE):
        return _fault(reply.reply, flavour, ctx, reply.after, reply.raw, keep_rest=True)
    return _content_plan(reply, flavour, ctx)


def _error_plan(error: Error) -> Plan:
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
    reply: Content, flavour: Flavour, ctx: ChatContext, after: int, fault: Step, *, keep_rest: bool
) -> Plan:
    plan = _content_plan(reply, flavour, ctx)
    if ctx.stream:
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
        broken = body[:half] if fault is _BROKEN_JSON else fault
        plan.headers = [(k, v) for k, v in plan.headers if k != "content-length"]
        plan.headers.append(("content-length", str(len(broken))))
        plan.steps = [broken]
    return plan


def _content_plan(reply: Content, flavour: Flavour, ctx: ChatContext) -> Plan:
    ids = (
        [call.id or flavour.new_tool_call_id() for call in reply.calls]
        if isinstance(reply, ToolCalls)
        else []
    )
    counts = _usage_counts(reply, ctx)
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

    steps: list[Step] = []
    for frame in [*(b"data: " + orjson.dumps(e) + b"\n\n" for e in events), _DONE]:
        if steps and reply.delay > 0:
            steps.append(Pause(reply.delay))
        steps.append(frame)
    return Plan(200, list(_SSE_HEADERS), steps)


def _deltas(reply: Content, flavour: Flavour, ids: list[str]) -> list[dict[str, Any]]:
    if isinstance(reply, Reasoning):
        thoughts = [{flavour.reasoning_field: p} for p in split_text(reply.reasoning, reply.chunks)]
        return thoughts + [{"content": p} for p in split_text(reply.text, reply.chunks)]
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
    else:
        message["content"] = reply.text
    if isinstance(reply, Reasoning):
        message[flavour.reasoning_field] = reply.reasoning
    return message


def _usage_counts(reply: Content, ctx: ChatContext) -> UsageCounts:
    if isinstance(reply, Reasoning):
        produced = len(reply.reasoning) + len(reply.text)
    elif isinstance(reply, Think):
        produced = len(reply.content)
    elif isinstance(reply, ToolCalls):
        produced = len(reply.text) + sum(len(c.name) + len(c.arguments_json) for c in reply.calls)
    elif isinstance(reply, Huge):
        produced = reply.size
    else:
        assert isinstance(reply, Text)
        produced = len(reply.text)
    usage = reply.usage
    prompt = usage.prompt_tokens if usage and usage.prompt_tokens is not None else ctx.prompt_tokens
    completion = (
        usage.completion_tokens
        if usage and usage.completion_tokens is not None
        else max(1, produced // 4)
    )
    return UsageCounts(prompt, completion, usage.cached_tokens if usage else None)
