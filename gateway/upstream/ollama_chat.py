"""Ollama's own POST /api/chat: the translated chat-completions body with options.num_ctx (the one
thing Ollama's OpenAI and Anthropic endpoints ignore), NDJSON lines back through the chunk adapter
and the StreamTranslator."""

from __future__ import annotations

from typing import Any

from gateway.errors import GatewayError
from gateway.translate.lines import LineTooLong
from gateway.translate.ollama import (
    NDJSONDecoder,
    OllamaChunkAdapter,
    num_ctx_for,
    openai_to_ollama_chat,
)
from gateway.translate.response import openai_to_anthropic_with_notes
from gateway.translate.stream import Event, StreamTranslator
from gateway.upstream.client import Upstream
from gateway.upstream.openai_chat import chat_translator, translated
from gateway.upstream.protocol import (
    Fed,
    Outgoing,
    ReplySpec,
    StreamDecoder,
    UpstreamProtocol,
    UpstreamRequest,
    line_too_long,
    read_object,
)

__all__ = ["OllamaChat"]


class OllamaChat(UpstreamProtocol):
    name = "ollama"

    def build(self, out: Outgoing, upstream: Upstream) -> UpstreamRequest:
        model = out.model
        num_ctx = num_ctx_for(
            out.needed,
            loaded=model.context_window if model else None,
            maximum=model.max_context if model else None,
            cap=out.window,
        )
        # /api/chat has no stream_options: usage comes with the last line.
        body = openai_to_ollama_chat(translated(out, stream_usage=True), num_ctx=num_ctx)
        return UpstreamRequest(
            out.backend_id, f"{upstream.root_url}/api/chat", body, {}, out.retries
        )

    def decoder(self, reply: ReplySpec) -> StreamDecoder:
        return _LineDecoder(chat_translator(reply), reply.backend, reply.message_id, reply.max_line)

    def parse(self, body: bytes, reply: ReplySpec) -> tuple[dict[str, Any], list[str]]:
        payload = OllamaChunkAdapter(reply.message_id).response(read_object(body, reply.backend))
        return openai_to_anthropic_with_notes(
            payload,
            client_model=reply.client_model,
            message_id=reply.message_id,
            tool_names=reply.tool_names,
            show_thinking=reply.show_thinking,
        )


class _LineDecoder(StreamDecoder):
    state: StreamTranslator

    def __init__(
        self, translator: StreamTranslator, backend: str, completion_id: str, max_line: int
    ) -> None:
        super().__init__(translator, backend)
        self.decoder = NDJSONDecoder(max_line)
        self.adapter = OllamaChunkAdapter(completion_id)

    def feed(self, data: bytes) -> Fed:
        events: list[Event] = []
        try:
            lines = self.decoder.feed(data)
        except LineTooLong as exc:
            return events, True, line_too_long(exc, self.backend)
        for line in lines:
            try:
                chunk = read_object(line, self.backend)
            except GatewayError as exc:
                return events, True, exc
            events += self.state.feed(self.adapter.convert(chunk))
            if chunk.get("done"):
                return events, True, None
        return events, False, None
