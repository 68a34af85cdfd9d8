"""Ollama's own `/api/chat`, used when a request needs more context than the loaded model has.

Ollama's OpenAI and Anthropic endpoints ignore `num_ctx`, so a prompt longer than the loaded
context (4k by default on small GPUs) is silently truncated there. `/api/chat` takes
`options.num_ctx`. This module maps a chat-completions body to `/api/chat` and Ollama's NDJSON
answer back to chat-completions chunks, so the one stream translator serves all three protocols.
Source of truth: Ollama's docs/api.md ("Generate a chat completion": messages with `images`,
`tool_calls` with object arguments, `tool_name`; `think`; `format`; `options`; streamed objects
with `message.content`, `message.thinking`, `message.tool_calls`, then `done`, `done_reason`,
`prompt_eval_count`, `eval_count`, and in newer releases `prompt_eval_cached_count`).
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.translate.lines import DEFAULT_MAX_LINE, LineSplitter

__all__ = ["NDJSONDecoder", "OllamaChunkAdapter", "num_ctx_for", "openai_to_ollama_chat"]

_OPTION_KEYS = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "stop": "stop"}


def num_ctx_for(
    needed: int, *, loaded: int | None, maximum: int | None, cap: int | None = None
) -> int:
    """The context to ask for: the loaded size when it is enough (a change reloads the model),
    else the next power of two that holds prompt + answer, within the model's maximum and the
    user's cap."""
    if loaded and loaded >= needed:
        return loaded
    size = 2048
    while size < needed:
        size *= 2
    for bound in (maximum, cap):
        if bound:
            size = min(size, bound)
    return size


def openai_to_ollama_chat(body: dict[str, Any], *, num_ctx: int) -> dict[str, Any]:
    """A chat-completions request body (from `anthropic_to_openai`) as an `/api/chat` body."""
    options: dict[str, Any] = {"num_ctx": num_ctx}
    for source, target in _OPTION_KEYS.items():
        if body.get(source) is not None:
            options[target] = body[source]
    limit = body.get("max_tokens", body.get("max_completion_tokens"))
    if limit is not None:
        options["num_predict"] = limit
    out: dict[str, Any] = {
        "model": body["model"],
        "messages": [_message(m, body["messages"]) for m in body["messages"]],
        "stream": bool(body.get("stream")),
        "options": options,
    }
    if body.get("tools"):
        out["tools"] = body["tools"]
    kwargs = body.get("chat_template_kwargs") or {}
    if "enable_thinking" in kwargs:
        # A local model: on or off. /api/chat's effort strings ("low"…"high") are for the
        # models that define levels (gpt-oss), and a boolean is what every thinking model takes.
        out["think"] = bool(kwargs["enable_thinking"])
    elif body.get("reasoning_effort"):
        out["think"] = body["reasoning_effort"]
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        out["format"] = fmt.get("json_schema", {}).get("schema", "json")
    return out


def _message(message: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message["role"]}
    content = message.get("content")
    if isinstance(content, list):
        texts, images = [], []
        for part in content:
            if part.get("type") == "text":
                texts.append(part["text"])
            elif part.get("type") == "image_url":
                url = part["image_url"]["url"]
                if url.startswith("data:") and "," in url:
                    images.append(url.split(",", 1)[1])  # Ollama takes bare base64
                else:
                    texts.append(f"[image at {url} omitted: Ollama takes inline images only]")
        out["content"] = "\n\n".join(texts)
        if images:
            out["images"] = images
    else:
        out["content"] = content or ""
    if message.get("tool_calls"):
        out["tool_calls"] = [
            {"function": {"name": c["function"]["name"], "arguments": _args(c)}}
            for c in message["tool_calls"]
        ]
    if message["role"] == "tool":
        name = _tool_name(message.get("tool_call_id"), history)
        if name:
            out["tool_name"] = name
    return out


def _args(call: dict[str, Any]) -> Any:
    raw = call["function"].get("arguments") or "{}"
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}


def _tool_name(call_id: Any, history: list[dict[str, Any]]) -> str | None:
    for message in history:
        for call in message.get("tool_calls") or ():
            if call.get("id") == call_id:
                name: str = call["function"]["name"]
                return name
    return None


class NDJSONDecoder:
    """Newline-delimited JSON, split anywhere across reads: complete lines out, in time linear
    in the bytes; a line longer than `limit` bytes raises LineTooLong."""

    def __init__(self, limit: int | None = DEFAULT_MAX_LINE) -> None:
        self._lines = LineSplitter(sse=False, limit=limit)

    def feed(self, data: bytes) -> list[bytes]:
        return [line for line in self._lines.split(data) if line.strip()]

    def flush(self) -> list[bytes]:
        rest = self._lines.flush()
        return [rest] if rest.strip() else []


class OllamaChunkAdapter:
    """One `/api/chat` object → one chat-completions chunk (tool calls numbered in order)."""

    def __init__(self, completion_id: str) -> None:
        self.completion_id = completion_id
        self._calls = 0

    def convert(self, obj: dict[str, Any]) -> dict[str, Any]:
        if "error" in obj:
            return obj  # the relay maps it to the gateway's error taxonomy
        message = obj.get("message")
        message = message if isinstance(message, dict) else {}
        delta: dict[str, Any] = {}
        if isinstance(message.get("thinking"), str) and message["thinking"]:
            delta["reasoning_content"] = message["thinking"]
        if isinstance(message.get("content"), str) and message["content"]:
            delta["content"] = message["content"]
        calls = []
        listed = message.get("tool_calls")
        for call in listed if isinstance(listed, list) else ():
            if not isinstance(call, dict):
                continue
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            arguments = function.get("arguments", {})
            if not isinstance(arguments, str):
                arguments = orjson.dumps(arguments).decode()
            calls.append(
                {
                    "index": self._calls,
                    "id": call.get("id") or f"call_{self.completion_id}_{self._calls}",
                    "type": "function",
                    "function": {"name": function.get("name", ""), "arguments": arguments},
                }
            )
            self._calls += 1
        if calls:
            delta["tool_calls"] = calls
        finish = None
        if obj.get("done"):
            reason = obj.get("done_reason") or "stop"
            finish = "length" if reason == "length" else ("tool_calls" if self._calls else "stop")
        chunk: dict[str, Any] = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if obj.get("done"):
            chunk["usage"] = usage = {
                "prompt_tokens": obj.get("prompt_eval_count", 0),
                "completion_tokens": obj.get("eval_count", 0),
            }
            # Newer Ollama (ollama#17943, 2026-08): the prompt tokens read from its cache, within
            # prompt_eval_count, and left out when there were none.
            cached = obj.get("prompt_eval_cached_count")
            if isinstance(cached, int):
                usage["prompt_tokens_details"] = {"cached_tokens": cached}
        return chunk

    def response(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A non-streamed `/api/chat` answer as a `chat.completion` object."""
        chunk = self.convert({**obj, "done": True})
        delta = chunk["choices"][0]["delta"]
        message = {
            "role": "assistant",
            "content": delta.get("content", ""),
            "reasoning_content": delta.get("reasoning_content"),
            "tool_calls": delta.get("tool_calls"),
        }
        return {
            "id": self.completion_id,
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": chunk["choices"][0]["finish_reason"],
                }
            ],
            "usage": chunk["usage"],
        }
