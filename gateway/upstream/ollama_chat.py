"""Ollama's own POST /api/chat: the translated chat-completions body with options.num_ctx (the one
thing Ollama's OpenAI and Anthropic endpoints ignore), NDJSON lines back through the chunk adapter
and the StreamTranslator."""

from __future__ import annotations

from typing import Any

from gateway.errors import GatewayError
from gateway.translate.ollama import (
    NDJSONDecoder,
    OllamaChunkAdapter,
    num_ctx_for,
    openai_to_ollama_chat,
)
from gateway.translate.stream import Event, StreamTranslator
from gateway.upstream.client import Upstream
from gateway.upstream.openai_chat import chat_message, chat_translator, translated
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

__all__ = ["OllamaChat"]


class OllamaChat(UpstreamProtocol):
    name = "ollama"

    def build(self, out: Outgoing, upstream: Upstream) -> UpstreamRequest:
        model = out.model
        # Chosen once per model (gateway/backends/ollama_context.py): another number would
        # reload it. Only a model the catalogue does not know gets one from the request's size.
        num_ctx = out.num_ctx or num_ctx_for(
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
        return chat_message(payload, reply)


class _LineDecoder(FramedDecoder[Any]):
    state: StreamTranslator

    def __init__(
        self, translator: StreamTranslator, backend: str, completion_id: str, max_line: int
    ) -> None:
        super().__init__(translator, backend)
        self.framing = NDJSONDecoder(max_line)
        self.adapter = OllamaChunkAdapter(completion_id)

    def consume(self, items: list[Any]) -> Fed:
        events: list[Event] = []
        for line in items:
            try:
                chunk = read_object(line, self.backend)
            except GatewayError as exc:
                return events, True, exc
            events += self.state.feed(self.adapter.convert(chunk))
            if chunk.get("done"):
                self.load_ms = _load_ms(chunk.get("load_duration"))
                return events, True, None
        return events, False, None


# Finding a loaded model takes Ollama milliseconds; anything longer is a load.
_LOAD_THRESHOLD_MS = 100.0


def _load_ms(nanoseconds: Any) -> float | None:
    if isinstance(nanoseconds, bool) or not isinstance(nanoseconds, int | float):
        return None
    ms = nanoseconds / 1e6
    return round(ms, 1) if ms >= _LOAD_THRESHOLD_MS else None
