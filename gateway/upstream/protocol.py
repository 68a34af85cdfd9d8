"""The one small interface every upstream protocol implements, as httpx's transports do.

An `UpstreamProtocol` builds the request (URL, body, headers), opens it (with its own retries),
and reads the answer back as Anthropic events: streamed through a `StreamDecoder`, or whole
through `parse`. The relay holds one and never asks which it is; which one a request gets is
decided in gateway/backends/protocol_choice.py. The three: openai_chat.py, ollama_chat.py,
anthropic_messages.py beside this file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import httpx
import orjson

from gateway.backends.catalogue import BackendInfo, ModelInfo
from gateway.errors import GatewayError, UpstreamError, status_of_type
from gateway.repair.stream import AnthropicStreamRepairer
from gateway.schemas.anthropic import MessagesRequest
from gateway.translate.documents import PdfReader
from gateway.translate.lines import DEFAULT_MAX_LINE, LineTooLong
from gateway.translate.stream import Event, StreamTranslator, message_start
from gateway.upstream.client import Upstream
from gateway.upstream.errors import map_backend_error

__all__ = [
    "Fed",
    "FramedDecoder",
    "Framing",
    "Outgoing",
    "ReplySpec",
    "StreamDecoder",
    "UpstreamProtocol",
    "UpstreamRequest",
    "Unstreamed",
    "line_too_long",
    "native_error",
    "read_object",
]

Fed = tuple[list[Event], bool, GatewayError | None]  # events, the stream is over, why it failed
T = TypeVar("T")


@dataclass(slots=True)
class Outgoing:
    """One request as the plan settled it, before a protocol encodes it."""

    req: MessagesRequest  # parsed, with the tool_choice instruction when the gateway emulates it
    raw: dict[str, Any]  # the client's own body (the same instruction added)
    backend_id: str
    model_name: str  # the backend's name for the model
    max_tokens: int  # fitted to the window
    stream: bool  # streamed from the backend
    info: BackendInfo | None
    model: ModelInfo | None
    client_headers: dict[str, str]
    needed: int  # prompt + max_tokens, when counted (else 0)
    window: int | None  # the window the prompt was fitted to
    retries: int  # before the first byte (remote providers)
    changes: list[str]  # the plan's lists: a protocol adds what it changed and warns about
    warnings: list[str]
    pdf: PdfReader | None = None  # how a PDF is read (the gateway's cache)
    num_ctx: int | None = None  # Ollama's /api/chat: the context stated (ollama_context.py)


@dataclass(slots=True)
class UpstreamRequest:
    """What goes on the wire; `body` may change on a protocol's own retry."""

    backend_id: str
    url: str
    body: dict[str, Any]
    headers: dict[str, str]
    retries: int  # before the first byte (remote providers)


@dataclass(frozen=True, slots=True)
class ReplySpec:
    """What the client's answer is made of, whatever the backend sends: its id, the model name
    the client asked for, the prompt's size, the tools it may call; and the backend's URL, which
    errors name; and the longest stream line (or event) a decoder takes."""

    message_id: str
    client_model: str
    input_tokens: int
    tool_names: Collection[str]
    backend: str
    show_thinking: bool = True  # False for `thinking.display: "omitted"`: no thinking blocks
    max_line: int = DEFAULT_MAX_LINE


class StreamDecoder(ABC):
    """Bytes from one upstream read in, Anthropic events out, over one of the two state
    machines: the chat-completions StreamTranslator or the native AnthropicStreamRepairer."""

    # How long the backend says it spent loading the model for this request, when it did.
    load_ms: float | None = None

    def __init__(self, state: StreamTranslator | AnthropicStreamRepairer, backend: str) -> None:
        self.state = state
        self.backend = backend

    def start(self) -> list[Event]:
        return self.state.start()

    @abstractmethod
    def feed(self, data: bytes) -> Fed:
        """One upstream read: each protocol decodes its own framing."""

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


class Framing(Protocol[T]):
    """A stream's framing: bytes in, whole items (SSE payloads, events, NDJSON lines) out;
    `LineTooLong` past its cap."""

    def feed(self, data: bytes) -> list[T]: ...


class FramedDecoder(StreamDecoder, Generic[T]):
    """A decoder over a framing: the line cap ends the stream the same way for every protocol,
    and each protocol reads its own items (`consume`)."""

    framing: Framing[T]

    def feed(self, data: bytes) -> Fed:
        try:
            items = self.framing.feed(data)
        except LineTooLong as exc:
            return [], True, line_too_long(exc, self.backend)
        return self.consume(items)

    @abstractmethod
    def consume(self, items: list[T]) -> Fed:
        """The events of one read's whole items, and whether (and how) the stream ended."""


class Unstreamed(StreamDecoder):
    """The decoder's place while an answer is fetched whole (whatever the protocol): nothing
    is decoded; a stream to the client that is committed early opens with this message_start."""

    def __init__(self, reply: ReplySpec) -> None:
        self._reply = reply
        self._started = False

    def start(self) -> list[Event]:
        if self._started:
            return []
        self._started = True
        reply = self._reply
        return [message_start(reply.message_id, reply.client_model, reply.input_tokens)]

    def feed(self, data: bytes) -> Fed:
        raise UpstreamError("a whole answer is not decoded as a stream")

    def finish(self) -> list[Event]:
        return []

    def message(self) -> dict[str, Any]:
        return {}

    @property
    def has_content(self) -> bool:
        return False

    @property
    def usage(self) -> dict[str, int]:
        return {}

    @property
    def stop_reason(self) -> str | None:
        return None

    def notes(self) -> tuple[list[str], list[str]]:
        return [], []


class UpstreamProtocol(ABC):
    """One way of speaking to a backend. Instances are shared by every request of a gateway;
    what one keeps (the OpenAI one's memory of backends that refuse `stream_options`) is its own."""

    name: ClassVar[str]  # as the record, /health and the config name it

    @abstractmethod
    def build(self, out: Outgoing, upstream: Upstream) -> UpstreamRequest:
        """URL, body and headers for this request."""

    def open(
        self, upstream: Upstream, request: UpstreamRequest, changes: list[str]
    ) -> AbstractAsyncContextManager[httpx.Response]:
        """POST the request; the response once it is 2xx. A protocol with retries of its own
        overrides this and notes in `changes` what it did."""
        return upstream.post(
            request.url, request.body, headers=request.headers, retries=request.retries
        )

    @abstractmethod
    def decoder(self, reply: ReplySpec) -> StreamDecoder:
        """A fresh decoder for one streamed answer."""

    @abstractmethod
    def parse(self, body: bytes, reply: ReplySpec) -> tuple[dict[str, Any], list[str]]:
        """A non-streamed answer as an Anthropic message, with the repairs made to it."""


def read_object(payload: str | bytes, backend: str) -> dict[str, Any]:
    """One JSON object from a backend; an error object (any protocol's shape) raised as one."""
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
            raise native_error(data["error"], backend)
        raise map_backend_error(500, orjson.dumps(data), backend=backend)
    return data


def line_too_long(exc: LineTooLong, backend: str) -> UpstreamError:
    """The stream ends at once: the rest of such a line is not read, nor held."""
    limit = exc.limit
    shown = f"{limit >> 20} MiB" if limit % (1 << 20) == 0 else f"{limit:,} bytes"
    return UpstreamError(
        f"the backend at {backend} sent a stream {exc.what} longer than {shown} "
        "(max_stream_line_bytes); the stream was ended there"
    )


def native_error(error: dict[str, Any], backend: str) -> GatewayError:
    """An Anthropic-shaped error from a backend, as the error its HTTP status would have been."""
    status = status_of_type(str(error.get("type")))
    return map_backend_error(status, orjson.dumps({"error": error}), backend=backend)
