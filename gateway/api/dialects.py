"""What the relay reads from each upstream protocol: bytes in, Anthropic events out.

Every dialect is a byte decoder plus one of the two state machines: the chat-completions
StreamTranslator (OpenAI and, through its chunk adapter, Ollama's /api/chat) or the
AnthropicStreamRepairer (native passthrough). Each read of the upstream becomes one batch of
events; a broken chunk ends the batch with the error that the relay then reports.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from typing import Any

import orjson

from gateway.errors import GatewayError, UpstreamError
from gateway.repair.message import repair_message
from gateway.repair.stream import AnthropicStreamRepairer
from gateway.translate.ollama import NDJSONDecoder, OllamaChunkAdapter
from gateway.translate.response import openai_to_anthropic_with_notes
from gateway.translate.sse import AnthropicSSEDecoder, SSEDecoder
from gateway.translate.stream import Event, StreamTranslator
from gateway.upstream.errors import map_backend_error

__all__ = ["Fed", "StreamDialect", "parse_once", "stream_dialect"]

# Anthropic error types as the status a backend would have sent with them.
_STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}

Fed = tuple[list[Event], bool, GatewayError | None]  # events, the stream is over, why it failed


class StreamDialect(ABC):
    """The common face of the three protocols for the relay."""

    def __init__(self, state: StreamTranslator | AnthropicStreamRepairer, backend: str) -> None:
        self.state = state
        self.backend = backend

    def start(self) -> list[Event]:
        return self.state.start()

    @abstractmethod
    def feed(self, data: bytes) -> Fed:
        """One upstream read: each dialect decodes its own framing."""

    def finish(self) -> list[Event]:
        return self.state.finish()

    def message(self) -> dict[str, Any]:
        return self.state.message()

    @property
    def has_content(self) -> bool:
        return self.state.has_content

    @property
    def usage(self) -> dict[str, int]:
        return self.state.usage

    @property
    def stop_reason(self) -> str | None:
        return self.state.stop_reason

    def notes(self) -> tuple[list[str], list[str]]:
        """(repairs, warnings) for the request record."""
        warnings = list(getattr(self.state, "warnings", ()))
        return list(self.state.repairs), warnings


class _OpenAI(StreamDialect):
    state: StreamTranslator

    def __init__(self, translator: StreamTranslator, backend: str) -> None:
        super().__init__(translator, backend)
        self.decoder = SSEDecoder()

    def feed(self, data: bytes) -> Fed:
        events: list[Event] = []
        for payload in self.decoder.feed(data):
            if payload == "[DONE]":
                return events, True, None
            try:
                chunk = _object(payload, self.backend)
            except GatewayError as exc:
                return events, True, exc
            events += self.state.feed(chunk)
        return events, False, None


class _Ollama(StreamDialect):
    state: StreamTranslator

    def __init__(self, translator: StreamTranslator, backend: str, completion_id: str) -> None:
        super().__init__(translator, backend)
        self.decoder = NDJSONDecoder()
        self.adapter = OllamaChunkAdapter(completion_id)

    def feed(self, data: bytes) -> Fed:
        events: list[Event] = []
        for line in self.decoder.feed(data):
            try:
                chunk = _object(line, self.backend)
            except GatewayError as exc:
                return events, True, exc
            events += self.state.feed(self.adapter.convert(chunk))
            if chunk.get("done"):
                return events, True, None
        return events, False, None


class _Anthropic(StreamDialect):
    state: AnthropicStreamRepairer

    def __init__(self, repairer: AnthropicStreamRepairer, backend: str) -> None:
        super().__init__(repairer, backend)
        self.decoder = AnthropicSSEDecoder()

    def feed(self, data: bytes) -> Fed:
        events: list[Event] = []
        for event in self.decoder.feed(data):
            events += self.state.feed(event)
            error = self.state.error
            if error is not None:
                # The relay sends the error itself, worded like the HTTP error would be.
                kept = [e for e in events if e[0] != "error"]
                return kept, True, _native_error(error, self.backend)
        return events, False, None

    def notes(self) -> tuple[list[str], list[str]]:
        return list(self.state.repairs), list(self.decoder.warnings)


def stream_dialect(
    dialect: str,
    *,
    message_id: str,
    client_model: str,
    input_tokens: int,
    tool_names: Collection[str],
    backend: str,
) -> StreamDialect:
    if dialect == "anthropic":
        repairer = AnthropicStreamRepairer(
            client_model=client_model, message_id=message_id, tool_names=tool_names
        )
        return _Anthropic(repairer, backend)
    translator = StreamTranslator(
        message_id=message_id,
        client_model=client_model,
        input_tokens=input_tokens,
        tool_names=tool_names,
    )
    if dialect == "ollama":
        return _Ollama(translator, backend, message_id)
    return _OpenAI(translator, backend)


def parse_once(
    dialect: str,
    body: bytes,
    *,
    message_id: str,
    client_model: str,
    tool_names: Collection[str],
    backend: str,
) -> tuple[dict[str, Any], list[str]]:
    """A non-streamed answer as an Anthropic message, with the repairs made to it."""
    payload = _object(body, backend)
    if dialect == "anthropic":
        if payload.get("type") == "error" and isinstance(payload.get("error"), dict):
            raise _native_error(payload["error"], backend)
        message, repairs = repair_message(payload, client_model=client_model, tool_names=tool_names)
        return message, repairs
    if dialect == "ollama":
        payload = OllamaChunkAdapter(message_id).response(payload)
    message, notes = openai_to_anthropic_with_notes(
        payload, client_model=client_model, message_id=message_id, tool_names=tool_names
    )
    return message, notes


def _object(payload: str | bytes, backend: str) -> dict[str, Any]:
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise UpstreamError(
            f"the backend at {backend} sent data that is not JSON: {str(payload)[:120]!r}"
        ) from None
    if not isinstance(data, dict):
        raise UpstreamError(f"the backend at {backend} sent a JSON {type(data).__name__}")
    if "error" in data and "choices" not in data and data.get("type") != "message":
        if data.get("type") == "error" and isinstance(data.get("error"), dict):
            raise _native_error(data["error"], backend)
        raise map_backend_error(500, orjson.dumps(data), backend=backend)
    return data


def _native_error(error: dict[str, Any], backend: str) -> GatewayError:
    status = _STATUS_OF_TYPE.get(str(error.get("type")), 500)
    return map_backend_error(status, orjson.dumps({"error": error}), backend=backend)
