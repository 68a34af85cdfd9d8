"""Scripted replies for the fake backends: what the model says, and how the wire misbehaves.

Content replies (`Text`, `Reasoning`, `Think`, `ToolCalls`, `Huge`) are rendered in the protocol
the request came in on: `chat.completion.chunk` events or one `chat.completion` object (OpenAI),
Anthropic SSE events or one message (`/v1/messages`), NDJSON objects or one object (Ollama's
`/api/chat`). The other replies wrap a content reply in a fault: an HTTP error, silence before
or after the headers, silence or a cut mid-stream, broken JSON or broken SSE, or a hold until
the test opens a `Gate`. Fault positions (`after=N`) count events (SSE frames or NDJSON lines),
the role chunk included.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import orjson

__all__ = [
    "DEFAULT_TEXT",
    "Content",
    "CutAfter",
    "Error",
    "Gate",
    "HeadersThenSilence",
    "Held",
    "Huge",
    "MalformedJSON",
    "MalformedSSE",
    "Reasoning",
    "Reply",
    "Respond",
    "SilenceAfter",
    "Stall",
    "Text",
    "Think",
    "ToolCall",
    "ToolCalls",
    "Usage",
    "context_length_exceeded",
]

DEFAULT_TEXT = "Hello from the fake backend."


@dataclass(frozen=True)
class Usage:
    """Token counts to report instead of the fake's estimates; None keeps the estimate."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None


@dataclass(frozen=True, kw_only=True)
class _Content:
    # How many content events the text (and reasoning) is split into.
    chunks: int = 3
    # Seconds between two events: a slow model.
    delay: float = 0.0
    # Overrides "stop" (or "tool_calls" when there are calls), e.g. "length".
    finish_reason: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True)
class Text(_Content):
    text: str = DEFAULT_TEXT


@dataclass(frozen=True)
class Reasoning(_Content):
    """Reasoning in the flavour's reasoning field (`reasoning_content`, Ollama: `reasoning`).
    `lead` is text the model writes before it reasons (Gemma's "---"), the shape that makes
    Ollama before 0.32.2 reuse a block index in /v1/messages streams (ollama#17101)."""

    reasoning: str
    text: str = DEFAULT_TEXT
    lead: str = ""


@dataclass(frozen=True)
class Think(_Content):
    """Reasoning inline in the content as `<think>…</think>`; chunk borders may cut the tags."""

    reasoning: str
    text: str = DEFAULT_TEXT

    @property
    def content(self) -> str:
        return f"<think>{self.reasoning}</think>{self.text}"


@dataclass(frozen=True)
class ToolCall:
    name: str
    # A mapping is sent as JSON; a string is sent as is (to script invalid arguments).
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    # None lets the flavour make one up in its own style.
    id: str | None = None

    @property
    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return orjson.dumps(dict(self.arguments)).decode()


@dataclass(frozen=True)
class ToolCalls(_Content):
    """One or several (parallel) calls, optionally after some text; arguments are split over
    `chunks` events where the flavour streams them in pieces."""

    calls: Sequence[ToolCall]
    text: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "calls", tuple(self.calls))


@dataclass(frozen=True)
class Huge(_Content):
    """About `size` bytes of text, for body-size limits and memory use."""

    size: int = 8 * 1024 * 1024

    @property
    def text(self) -> str:
        line = "All work and no play makes a huge reply.\n"
        return (line * (self.size // len(line) + 1))[: self.size]


Content: TypeAlias = Text | Reasoning | Think | ToolCalls | Huge


@dataclass(frozen=True)
class Error:
    """An HTTP error: a JSON body (mapping) or a raw one (e.g. an HTML page from a proxy)."""

    status: int = 500
    body: Mapping[str, Any] | str | bytes = field(
        default_factory=lambda: {"error": {"message": "fake failure", "type": "server_error"}}
    )
    # Defaults to application/json for a mapping and text/plain otherwise.
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stall:
    """Nothing at all (no status line, no headers) for `seconds`, then `then`."""

    seconds: float
    then: Reply = field(default_factory=Text)


@dataclass(frozen=True)
class HeadersThenSilence:
    """200 and the headers at once, then nothing for `seconds`, then the body of `then`."""

    seconds: float
    then: Content = field(default_factory=Text)


@dataclass(frozen=True)
class SilenceAfter:
    """`after` events, then nothing for `seconds`, then the rest of the stream."""

    after: int
    seconds: float
    reply: Content = field(default_factory=lambda: Text(chunks=6))


@dataclass(frozen=True)
class CutAfter:
    """`after` events, then the connection is closed: no finish_reason, no `[DONE]`."""

    after: int
    reply: Content = field(default_factory=lambda: Text(chunks=6))


@dataclass(frozen=True)
class MalformedJSON:
    """After `after` events, one event whose data is cut-off JSON; the stream then goes on.
    A non-streamed request gets a truncated JSON body."""

    after: int = 1
    reply: Content = field(default_factory=Text)


@dataclass(frozen=True)
class MalformedSSE:
    """After `after` events, `raw` bytes that are not an SSE event; the stream then goes on."""

    after: int = 1
    raw: bytes = b"<html><body><h1>502 Bad Gateway</h1></body></html>\r\n\r\n"
    reply: Content = field(default_factory=Text)


class Gate:
    """Holds `Held` replies until the test calls `open()`: how a test keeps a backend busy for
    exactly as long as it needs, without sleeping. Thread-safe; opening twice is harmless."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._open

    def open(self) -> None:
        with self._lock:
            self._open = True
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that fake has stopped
                pass

    async def wait(self) -> None:
        event = asyncio.Event()
        with self._lock:
            if self._open:
                return
            self._waiters.append((asyncio.get_running_loop(), event))
        await event.wait()


@dataclass(frozen=True)
class Held:
    """Nothing at all (no status line) until `gate` is opened, then `then`."""

    gate: Gate
    then: Reply = field(default_factory=Text)


@dataclass(frozen=True)
class Respond:
    """A reply made when the request comes, from its JSON body (a review model that answers for
    the tool ids it was asked about)."""

    make: Callable[[Any], Reply]


Reply: TypeAlias = (
    Content
    | Respond
    | Error
    | Stall
    | HeadersThenSilence
    | SilenceAfter
    | CutAfter
    | MalformedJSON
    | MalformedSSE
    | Held
)


def context_length_exceeded(prompt_tokens: int, context_length: int) -> Error:
    """OpenAI's own overflow error (also what vLLM and most remote providers send)."""
    message = (
        f"This model's maximum context length is {context_length} tokens. However, your "
        f"messages resulted in {prompt_tokens} tokens. Please reduce the length of the messages."
    )
    return Error(
        400,
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
    )
