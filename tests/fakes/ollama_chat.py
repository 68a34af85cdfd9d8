"""The fake Ollama's native `POST /api/chat` (docs/api.md, "Generate a chat completion").

Streamed as NDJSON (`application/x-ndjson`), one object a line: `message` with `content`,
`thinking` or `tool_calls` (each with an `id` and `function.index`; arguments as an object),
`done: false`; then a last object with empty content, `done: true`, `done_reason` ("stop",
"length"), the durations (`load_duration`: how long the request waited for the model to load),
`prompt_eval_count` and `eval_count`. Not streamed: that last object
with the whole message. Errors are {"error": "…"}. `options.num_ctx` sets the context the model
runs with; a prompt longer than it is silently truncated (prompt_eval_count is capped).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from tests.fakes.flavour import Flavour, estimate_tokens, split_text
from tests.fakes.ollama import load_duration
from tests.fakes.render import Plan, Step, error_plan, plan_reply, sse_steps, usage_counts
from tests.fakes.replies import Content, Error, Huge, Reasoning, Reply, Text, Think, ToolCalls

__all__ = ["OllamaChatRenderer", "ollama_chat_plan"]

_CREATED_AT = "2026-10-01T12:00:00.000000000Z"
_BROKEN = b'{"model":"fake","created_at":"' + _CREATED_AT.encode() + b'","message":{"rol\n'


@dataclass(frozen=True)
class _ChatContext:
    model: str
    stream: bool
    prompt_tokens: int
    load_seconds: float = 0.0


def ollama_chat_plan(
    flavour: Flavour, body: Any, take_reply: Callable[[], Reply], load_seconds: float = 0.0
) -> Plan:
    """`load_seconds`: how long the request waited for its model to load (`load_duration`)."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return error_plan(Error(400, {"error": "messages is required"}))
    model = body.get("model")
    if flavour.check_model(model if isinstance(model, str) else None) is not None:
        missing = f'model "{model}" not found, try pulling it first'
        return error_plan(Error(404, {"error": missing}))
    options = body.get("options")
    num_ctx = options.get("num_ctx") if isinstance(options, dict) else None
    limit = num_ctx if isinstance(num_ctx, int) and num_ctx > 0 else flavour.context_length
    prompt_tokens = estimate_tokens(body, "messages", "tools")
    if limit and prompt_tokens > limit:
        prompt_tokens = limit  # Ollama keeps the end of the prompt and says nothing
    ctx = _ChatContext(
        model=model if isinstance(model, str) else flavour.models[0],
        # /api/chat streams unless told not to.
        stream=body.get("stream") is not False,
        prompt_tokens=prompt_tokens,
        load_seconds=load_seconds,
    )
    return plan_reply(take_reply(), OllamaChatRenderer(flavour, ctx))


class OllamaChatRenderer:
    broken = _BROKEN

    def __init__(self, flavour: Flavour, ctx: _ChatContext) -> None:
        self.flavour = flavour
        self.ctx = ctx

    @property
    def stream(self) -> bool:
        return self.ctx.stream

    def content(self, reply: Content) -> Plan:
        counts = usage_counts(reply, self.ctx.prompt_tokens)
        done_reason = "length" if reply.finish_reason == "length" else "stop"
        final: dict[str, Any] = {
            "model": self.ctx.model,
            "created_at": _CREATED_AT,
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": done_reason,
            "total_duration": 4883583458 + load_duration(self.ctx.load_seconds),
            "load_duration": load_duration(self.ctx.load_seconds),
            "prompt_eval_count": counts.prompt,
            "prompt_eval_duration": 342546000,
            "eval_count": counts.completion,
            "eval_duration": 4535599000,
        }
        if counts.cached:  # within prompt_eval_count, and omitted when 0 (ollama#17943)
            final["prompt_eval_cached_count"] = counts.cached
        messages = self._messages(reply)
        if not self.ctx.stream:
            whole: dict[str, Any] = {"role": "assistant", "content": ""}
            for message in messages:
                for key, value in message.items():
                    if key in ("content", "thinking"):
                        whole[key] = whole.get(key, "") + value
                    elif key == "tool_calls":
                        whole[key] = value
            body = orjson.dumps({**final, "message": whole})
            headers = [("content-type", "application/json; charset=utf-8")]
            return Plan(200, [*headers, ("content-length", str(len(body)))], [body])
        lines = [
            orjson.dumps(
                {"model": self.ctx.model, "created_at": _CREATED_AT, "message": m, "done": False}
            )
            + b"\n"
            for m in messages
        ]
        lines.append(orjson.dumps(final) + b"\n")
        steps: list[Step] = sse_steps(lines, reply.delay)
        return Plan(200, [("content-type", "application/x-ndjson")], steps)

    def _messages(self, reply: Content) -> list[dict[str, Any]]:
        chunks = reply.chunks
        out: list[dict[str, Any]] = []

        def text(value: str, key: str = "content") -> None:
            for piece in split_text(value, chunks):
                message = {"role": "assistant", "content": ""}
                message[key] = piece
                out.append(message)

        if isinstance(reply, Reasoning):
            text(reply.lead)
            text(reply.reasoning, "thinking")
            text(reply.text)
        elif isinstance(reply, Think):
            text(reply.content)
        elif isinstance(reply, ToolCalls):
            text(reply.text)
            calls = [
                {
                    "id": call.id or self.flavour.new_tool_call_id(),
                    "function": {
                        "index": index,
                        "name": call.name,
                        "arguments": call.arguments
                        if isinstance(call.arguments, str)
                        else dict(call.arguments),
                    },
                }
                for index, call in enumerate(reply.calls)
            ]
            out.append({"role": "assistant", "content": "", "tool_calls": calls})
        else:
            assert isinstance(reply, Text | Huge)
            text(reply.text)
        return out
