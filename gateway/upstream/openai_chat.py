"""OpenAI chat completions: POST …/chat/completions with the Anthropic request translated
(gateway/translate), `data:` chunks back through the StreamTranslator.

Its own retry: some OpenAI-compatible servers refuse `stream_options`; the request is sent
once more without it, and the backend is remembered so that it is never sent there again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx

from gateway.backends.catalogue import BackendInfo, ModelInfo
from gateway.backends.presets import PRESETS
from gateway.errors import GatewayError, InvalidRequest
from gateway.schemas.anthropic import MessagesRequest
from gateway.translate.request import BackendTraits, anthropic_to_openai
from gateway.translate.response import openai_to_anthropic_with_notes
from gateway.translate.sse import SSEDecoder
from gateway.translate.stream import Event, StreamTranslator
from gateway.upstream.client import Upstream
from gateway.upstream.protocol import (
    Fed,
    FramedDecoder,
    Outgoing,
    ReplySpec,
    StreamDecoder,
    UpstreamProtocol,
    UpstreamRequest,
    read_object,
)

__all__ = ["OpenAIChat", "chat_message", "chat_translator", "traits_for", "translated"]


class OpenAIChat(UpstreamProtocol):
    name = "openai"

    def __init__(self) -> None:
        # Backends (by id) that refused `stream_options` once: the only memory this protocol
        # keeps, for as long as the gateway runs.
        self.refuses_stream_options: set[str] = set()

    def build(self, out: Outgoing, upstream: Upstream) -> UpstreamRequest:
        stream_usage = out.backend_id not in self.refuses_stream_options
        body = translated(out, stream_usage=stream_usage)
        return UpstreamRequest(
            out.backend_id, upstream.url("chat/completions"), body, {}, out.retries
        )

    @asynccontextmanager
    async def open(
        self, upstream: Upstream, request: UpstreamRequest, changes: list[str]
    ) -> AsyncIterator[httpx.Response]:
        try:
            async with upstream.post(
                request.url, request.body, headers=request.headers, retries=request.retries
            ) as response:
                yield response
        except InvalidRequest as exc:
            if "stream_options" not in exc.message or "stream_options" not in request.body:
                raise
            self.refuses_stream_options.add(request.backend_id)
            request.body = {k: v for k, v in request.body.items() if k != "stream_options"}
            changes.append("stream_options dropped: the backend refuses it")
            async with upstream.post(
                request.url, request.body, headers=request.headers, retries=request.retries
            ) as response:
                yield response

    def decoder(self, reply: ReplySpec) -> StreamDecoder:
        return _ChunkDecoder(chat_translator(reply), reply.backend, reply.max_line)

    def parse(self, body: bytes, reply: ReplySpec) -> tuple[dict[str, Any], list[str]]:
        return chat_message(read_object(body, reply.backend), reply)


class _ChunkDecoder(FramedDecoder[str]):
    state: StreamTranslator

    def __init__(self, translator: StreamTranslator, backend: str, max_line: int) -> None:
        super().__init__(translator, backend)
        self.framing = SSEDecoder(max_line)

    def consume(self, items: list[str]) -> Fed:
        events: list[Event] = []
        for payload in items:
            if payload == "[DONE]":
                return events, True, None
            try:
                chunk = read_object(payload, self.backend)
            except GatewayError as exc:
                return events, True, exc
            events += self.state.feed(chunk)
        return events, False, None


def chat_translator(reply: ReplySpec) -> StreamTranslator:
    """The chat-completions state machine for one answer (the Ollama protocol's too)."""
    return StreamTranslator(
        message_id=reply.message_id,
        client_model=reply.client_model,
        input_tokens=reply.input_tokens,
        tool_names=reply.tool_names,
        show_thinking=reply.show_thinking,
    )


def chat_message(completion: dict[str, Any], reply: ReplySpec) -> tuple[dict[str, Any], list[str]]:
    """A whole chat completion as the client's message, and what was repaired (the Ollama
    protocol's too, once adapted)."""
    return openai_to_anthropic_with_notes(
        completion,
        client_model=reply.client_model,
        message_id=reply.message_id,
        tool_names=reply.tool_names,
        show_thinking=reply.show_thinking,
    )


def translated(out: Outgoing, *, stream_usage: bool) -> dict[str, Any]:
    """The chat-completions body for `out` (the Ollama protocol starts from it too)."""
    traits = traits_for(out.info, out.model, out.model_name)
    if not stream_usage:
        traits = replace(traits, stream_usage=False)
    fitted: MessagesRequest = {**out.req, "max_tokens": out.max_tokens}
    translation = anthropic_to_openai(
        fitted, out.model_name, stream=out.stream, traits=traits, pdf=out.pdf
    )
    out.changes.extend(translation.changes)
    out.warnings.extend(translation.warnings)
    return translation.body


def traits_for(info: BackendInfo | None, model: ModelInfo | None, model_name: str) -> BackendTraits:
    """The translator's knobs for a backend and model (the per-backend quirk table)."""
    vision = not (model is not None and model.vision is False)
    if info is None or not info.remote:
        # Local servers: llama.cpp, vLLM, SGLang, LM Studio and Ollama's OpenAI endpoint take
        # chat_template_kwargs.enable_thinking and ignore what they do not know; of them only
        # Ollama documents `reasoning_effort` (docs.ollama.com/api/openai-compatibility).
        return BackendTraits(
            vision=vision, reasoning_effort=info is not None and info.kind == "ollama"
        )
    preset = PRESETS.get(info.kind)
    reasoning_model = bool(preset and preset.uses_max_completion_tokens(model_name))
    return BackendTraits(
        vision=vision,
        thinking_switch=False,  # remote APIs refuse unknown parameters
        reasoning_effort=reasoning_model,
        max_tokens_field="max_completion_tokens" if reasoning_model else "max_tokens",
        reasoning_roundtrip=bool(preset and preset.reasoning_roundtrip),
        clean_json_schema=bool(preset and preset.clean_json_schema),
    )
