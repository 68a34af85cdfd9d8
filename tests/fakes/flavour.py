"""What the three fake backends share: the OpenAI chat-completions wire shapes, and the hooks
through which each flavour (LM Studio, Ollama, llama.cpp) differs from the others, on the OpenAI
endpoints and on the native ones (`/v1/messages`, Ollama's `/api/chat`)."""

from __future__ import annotations

import secrets
import string
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import orjson

from tests.fakes.replies import Error, ToolCall

__all__ = [
    "AnthropicStyle",
    "ChatContext",
    "Flavour",
    "Response",
    "UsageCounts",
    "estimate_tokens",
    "json_response",
    "random_id",
    "split_text",
]


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    # A slow answer (loading a model): the server waits this long, then runs `after` (the change
    # the request makes, seen by other requests only from then on), then answers.
    delay: float = 0.0
    after: Callable[[], None] | None = None


def json_response(payload: Any, status: int = 200, **headers: str) -> Response:
    return Response(status, orjson.dumps(payload), headers=tuple(headers.items()))


def random_id(length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass(frozen=True)
class UsageCounts:
    prompt: int
    completion: int
    cached: int | None = None


@dataclass(frozen=True)
class AnthropicStyle:
    """How a server's own /v1/messages converter shapes its stream (tests/fakes/anthropic.py).
    The defaults are the documented event sequence."""

    counts_at_start: bool = True  # message_start carries the prompt count (Ollama sends 0)
    ping: bool = False  # a ping right after message_start
    open_until_end: bool = False  # every block left open and closed in order at the end
    signature: str | None = None  # a signature_delta closing each thinking block
    tool_input_shell: bool = True  # tool_use starts carry "input": {}
    tool_pieces: bool = True  # tool input in pieces, not whole in one delta
    empty_first_piece: bool = False  # an empty partial_json before the pieces
    input_in_delta: bool = False  # message_delta usage repeats input_tokens
    stop_sequence: bool = True  # message_delta carries stop_sequence
    reused_index: bool = False  # ollama#17101: text then thinking share one index


@dataclass
class ChatContext:
    """One chat request as the renderer needs it."""

    model: str
    stream: bool
    include_usage: bool
    prompt_tokens: int
    completion_id: str
    created: int = field(default_factory=lambda: int(time.time()))


class Flavour(ABC):
    """The OpenAI-compatible surface; subclasses override what their server does differently."""

    name: ClassVar[str]
    # Where reasoning text goes in a delta / message.
    reasoning_field: ClassVar[str] = "reasoning_content"
    chat_paths: ClassVar[frozenset[str]] = frozenset({"/v1/chat/completions"})
    # Added to every answer (e.g. LM Studio's Express header).
    extra_headers: ClassVar[tuple[tuple[str, str], ...]] = ()
    # The context a loaded model gets when none is configured.
    default_context_length: ClassVar[int] = 4096
    # The model's trained maximum, reported where the backend reports one.
    trained_context_length: ClassVar[int] = 131072
    # Whether this server (this version, these options) serves POST /v1/messages.
    messages_api: bool = False

    def __init__(
        self,
        models: Sequence[str],
        context_length: int | None,
        *,
        loaded: Sequence[str] | None = None,
        version: str | None = None,
    ) -> None:
        if not models:
            raise ValueError("a fake backend needs at least one model")
        self.models = list(models)
        self.context_length = context_length
        # The models in memory; by default the first one, the others only downloaded.
        self.loaded = list(models[:1] if loaded is None else loaded)
        self.version = version
        # How long a load takes (load endpoints), and the context each model was loaded with.
        self.load_seconds = 0.0
        self.load_contexts: dict[str, int] = {}

    @property
    def loaded_context_length(self) -> int:
        return self.context_length or self.default_context_length

    def context_of(self, model: str) -> int:
        """The context `model` is loaded with: the one a load asked for, else the default."""
        return self.load_contexts.get(model, self.loaded_context_length)

    def load_answer(self, model: str, context: int | None, payload: dict[str, Any]) -> Response:
        """`payload` after `load_seconds`, with `model` in memory from then on."""

        def loaded() -> None:
            if context:
                self.load_contexts[model] = context
            else:
                self.load_contexts.pop(model, None)
            if model not in self.loaded:
                self.loaded.append(model)

        return replace(json_response(payload), delay=self.load_seconds, after=loaded)

    def admit(self, dialect: str, body: Any) -> float:
        """A generation request's claim on its model: the seconds it waits while the model loads
        (0: in memory and ready). The servers that load models on demand override it."""
        return 0.0

    # --- endpoints --------------------------------------------------------------------------

    def route(self, method: str, path: str, body: Any) -> Response | None:
        """Answer a non-chat endpoint, or None when this flavour has no such endpoint."""
        return None

    def unknown(self, method: str, path: str) -> Response:
        return json_response({"error": {"message": "Not Found", "type": "not_found"}}, 404)

    # --- protocols --------------------------------------------------------------------------

    def dialect(self, method: str, path: str) -> str | None:
        """The protocol of a generation request ("openai", "anthropic", "ollama"); None for
        every other request (listings, probes, count_tokens)."""
        if method != "POST":
            return None
        if path in self.chat_paths:
            return "openai"
        if path == "/v1/messages" and self.messages_api:
            return "anthropic"
        return None

    def anthropic_style(self) -> AnthropicStyle:
        return AnthropicStyle()

    def native_error(
        self, status: int, message: str, error_type: str = "invalid_request_error"
    ) -> Error:
        """An error on /v1/messages: Anthropic's envelope unless the server uses its own."""
        return Error(status, {"type": "error", "error": {"type": error_type, "message": message}})

    def native_overflow(self, prompt_tokens: int, context_length: int) -> Error | None:
        """/v1/messages's answer to a prompt longer than the loaded context (None: truncated)."""
        return self.context_overflow(prompt_tokens, context_length)

    def new_message_id(self) -> str:
        return "msg_" + random_id(24)

    # --- errors -----------------------------------------------------------------------------

    def error(self, status: int, message: str, error_type: str = "invalid_request_error") -> Error:
        return Error(status, {"error": {"message": message, "type": error_type}})

    @abstractmethod
    def context_overflow(self, prompt_tokens: int, context_length: int) -> Error | None:
        """This flavour's answer to a prompt longer than the loaded context; None when the
        backend silently truncates the prompt instead."""

    def check_model(self, model: str | None) -> Error | None:
        return None

    # --- ids --------------------------------------------------------------------------------

    def new_completion_id(self) -> str:
        return "chatcmpl-" + random_id(29)

    def new_tool_call_id(self) -> str:
        return "call_" + random_id(24)

    def fingerprint(self, model: str) -> str | None:
        return None

    # --- chunks -----------------------------------------------------------------------------

    def chunk(
        self, ctx: ChatContext, delta: dict[str, Any], finish_reason: str | None = None
    ) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": ctx.completion_id,
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": ctx.model,
        }
        fingerprint = self.fingerprint(ctx.model)
        if fingerprint is not None:
            chunk["system_fingerprint"] = fingerprint
        chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
        return chunk

    def role_delta(self) -> dict[str, Any] | None:
        """The opening delta that only carries the role, or None when there is none."""
        return {"role": "assistant", "content": ""}

    def delta(self, fields: dict[str, Any]) -> dict[str, Any]:
        return fields

    def final_delta(self) -> dict[str, Any]:
        return {}

    def tool_call_deltas(
        self, calls: Sequence[ToolCall], ids: Sequence[str], pieces: int
    ) -> list[dict[str, Any]]:
        """OpenAI's way: a header event per call (id, name, empty arguments), then the
        arguments in pieces, each event naming the call by `index`."""
        deltas: list[dict[str, Any]] = []
        for index, (call, call_id) in enumerate(zip(calls, ids, strict=True)):
            header = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            deltas.append({"tool_calls": [header]})
            for piece in split_text(call.arguments_json, pieces):
                deltas.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        return deltas

    def usage(self, counts: UsageCounts) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "prompt_tokens": counts.prompt,
            "completion_tokens": counts.completion,
            "total_tokens": counts.prompt + counts.completion,
        }
        if counts.cached is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": counts.cached}
        return usage

    def final_chunk_extras(self, ctx: ChatContext, counts: UsageCounts) -> dict[str, Any]:
        """Fields added to the chunk that carries finish_reason."""
        return {}

    def usage_chunk(self, ctx: ChatContext, counts: UsageCounts) -> dict[str, Any] | None:
        """OpenAI's `stream_options.include_usage`: one more chunk with no choices."""
        if not ctx.include_usage:
            return None
        chunk = self.chunk(ctx, {})
        chunk["choices"] = []
        chunk["usage"] = self.usage(counts)
        return chunk

    # --- non-streamed -----------------------------------------------------------------------

    def completion(
        self,
        ctx: ChatContext,
        message: dict[str, Any],
        finish_reason: str,
        counts: UsageCounts,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": ctx.completion_id,
            "object": "chat.completion",
            "created": ctx.created,
            "model": ctx.model,
        }
        fingerprint = self.fingerprint(ctx.model)
        if fingerprint is not None:
            body["system_fingerprint"] = fingerprint
        body["choices"] = [{"index": 0, "message": message, "finish_reason": finish_reason}]
        body["usage"] = self.usage(counts)
        return body

    def empty_content(self) -> str | None:
        """`content` of a message that only has tool calls."""
        return None


def estimate_tokens(body: dict[str, Any], *keys: str) -> int:
    """About four bytes of JSON per token: the same order as real tokenizers on English prose
    (and about 1.5 times what the gateway's BPE counter says for repeated short words)."""
    sized = {key: body.get(key) for key in keys}
    return max(1, len(orjson.dumps(sized)) // 4)


def split_text(text: str, pieces: int) -> list[str]:
    """`text` in at most `pieces` consecutive, non-empty parts of near-equal length."""
    if not text:
        return []
    pieces = max(1, min(pieces, len(text)))
    size, extra = divmod(len(text), pieces)
    parts: list[str] = []
    start = 0
    for i in range(pieces):
        end = start + size + (1 if i < extra else 0)
        parts.append(text[start:end])
        start = end
    return parts
