"""The Anthropic Messages API request, as TypedDicts validated by one pydantic TypeAdapter.

Validation returns plain dicts (no model objects on the hot path). Unknown top-level fields are
dropped; a content block of a type we do not know is kept as an `OtherBlock` so that the
translator can replace it with a placeholder instead of failing the request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, NotRequired, TypeVar

import orjson
from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict

from gateway.errors import InvalidRequest

__all__ = [
    "MCP_TOOLSET",
    "Block",
    "CountTokensRequest",
    "ImageBlock",
    "Message",
    "MessagesRequest",
    "OtherBlock",
    "TextBlock",
    "ThinkingBlock",
    "Tool",
    "ToolChoice",
    "ToolResultBlock",
    "ToolUseBlock",
    "parse_count_tokens_request",
    "parse_messages_object",
    "parse_messages_request",
    "parse_messages_request_raw",
]

_T = TypeVar("_T")
_STRICT = ConfigDict(strict=True, extra="ignore")
_OPEN = ConfigDict(strict=True, extra="allow")


@with_config(_OPEN)
class CacheControl(TypedDict):
    type: str


@with_config(_STRICT)
class TextBlock(TypedDict):
    type: Literal["text"]
    text: str
    cache_control: NotRequired[CacheControl | None]


@with_config(_STRICT)
class Base64Source(TypedDict):
    type: Literal["base64"]
    media_type: str
    data: str


@with_config(_STRICT)
class UrlSource(TypedDict):
    type: Literal["url"]
    url: str


ImageSource = Annotated[Base64Source | UrlSource, Field(discriminator="type")]


@with_config(_STRICT)
class ImageBlock(TypedDict):
    type: Literal["image"]
    source: ImageSource
    cache_control: NotRequired[CacheControl | None]


@with_config(_STRICT)
class ToolUseBlock(TypedDict):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]
    cache_control: NotRequired[CacheControl | None]


@with_config(_STRICT)
class ThinkingBlock(TypedDict):
    type: Literal["thinking"]
    thinking: str
    signature: NotRequired[str]


@with_config(_OPEN)
class OtherBlock(TypedDict):
    """Any other block: document and search_result (translate.documents reads them, leniently),
    tool_addition/tool_removal in system messages, redacted_thinking, server tools…"""

    type: str


_KNOWN_RESULT_PARTS = {"text", "image"}
_KNOWN_BLOCKS = {"text", "image", "tool_use", "tool_result", "thinking"}


def _tag_among(known: set[str]) -> Callable[[Any], str | None]:
    """A block's discriminator: its type when `known`, else "other" (OtherBlock)."""

    def tag(value: Any) -> str | None:
        if isinstance(value, dict):
            kind = value.get("type")
            # A type that is no string (a list, an object) cannot be looked up: OtherBlock
            # refuses it.
            return kind if isinstance(kind, str) and kind in known else "other"
        return None

    return tag


ToolResultPart = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ImageBlock, Tag("image")]
    | Annotated[OtherBlock, Tag("other")],
    Discriminator(_tag_among(_KNOWN_RESULT_PARTS)),
]


@with_config(_STRICT)
class ToolResultBlock(TypedDict):
    type: Literal["tool_result"]
    tool_use_id: str
    content: NotRequired[str | list[ToolResultPart] | None]
    is_error: NotRequired[bool | None]
    cache_control: NotRequired[CacheControl | None]


Block = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ImageBlock, Tag("image")]
    | Annotated[ToolUseBlock, Tag("tool_use")]
    | Annotated[ToolResultBlock, Tag("tool_result")]
    | Annotated[ThinkingBlock, Tag("thinking")]
    | Annotated[OtherBlock, Tag("other")],
    Discriminator(_tag_among(_KNOWN_BLOCKS)),
]


@with_config(_STRICT)
class Message(TypedDict):
    # "system" mid-conversation is real Claude Code traffic; "human" comes from older clients.
    role: Literal["user", "assistant", "system", "human"]
    content: str | list[Block]


@with_config(_OPEN)
class Tool(TypedDict):
    """Custom tools carry input_schema; server and client tools (web_search_…, bash_20250124)
    carry a `type` instead. Only an MCP toolset (`mcp_toolset`) has no name (checked after
    validation): translate.request refuses it for local backends, native ones get it as sent."""

    name: NotRequired[str]
    type: NotRequired[str | None]
    description: NotRequired[str | None]
    input_schema: NotRequired[dict[str, Any]]


@with_config(_STRICT)
class ToolChoice(TypedDict):
    type: Literal["auto", "any", "tool", "none"]
    name: NotRequired[str]
    disable_parallel_tool_use: NotRequired[bool]


@with_config(_STRICT)
class Thinking(TypedDict):
    type: str  # "enabled" | "adaptive" | "disabled"
    budget_tokens: NotRequired[int]
    display: NotRequired[str | None]  # "summarized" | "omitted" | "updates"


@with_config(_STRICT)
class OutputConfig(TypedDict):
    effort: NotRequired[str | None]
    format: NotRequired[dict[str, Any] | None]
    task_budget: NotRequired[dict[str, Any] | None]


@with_config(_STRICT)
class MessagesRequest(TypedDict):
    model: str
    messages: list[Message]
    max_tokens: Annotated[int, Field(ge=1)]
    system: NotRequired[str | list[TextBlock] | None]
    stream: NotRequired[bool | None]
    tools: NotRequired[list[Tool] | None]
    tool_choice: NotRequired[ToolChoice | None]
    temperature: NotRequired[float | None]
    top_p: NotRequired[float | None]
    top_k: NotRequired[int | None]
    stop_sequences: NotRequired[list[str] | None]
    thinking: NotRequired[Thinking | None]
    output_config: NotRequired[OutputConfig | None]
    metadata: NotRequired[dict[str, Any] | None]
    # The older spelling of output_config.format (structured outputs beta).
    output_format: NotRequired[dict[str, Any] | None]
    # Auto mode's review (gateway.review reads it). Opaque and versioned, and a 400 here makes
    # Claude Code deny actions: any value is accepted.
    safeguards: NotRequired[Any]
    thread: NotRequired[dict[str, Any] | None]  # message threads: create / continue
    context_management: NotRequired[dict[str, Any] | None]
    mcp_servers: NotRequired[list[Any] | None]  # the MCP connector; not for local backends


@with_config(_STRICT)
class CountTokensRequest(TypedDict):
    model: str
    messages: list[Message]
    system: NotRequired[str | list[TextBlock] | None]
    tools: NotRequired[list[Tool] | None]
    tool_choice: NotRequired[ToolChoice | None]
    thinking: NotRequired[Thinking | None]


_messages_adapter: TypeAdapter[MessagesRequest] = TypeAdapter(MessagesRequest)
_count_adapter: TypeAdapter[CountTokensRequest] = TypeAdapter(CountTokensRequest)


def parse_messages_request(body: bytes) -> MessagesRequest:
    """Parse and validate a `POST /v1/messages` body; any problem is a 400 naming the field."""
    return _named_tools(_validate(_messages_adapter, body))


def parse_messages_request_raw(body: bytes) -> tuple[MessagesRequest, dict[str, Any]]:
    """The validated request and the raw JSON object it came from (for native passthrough,
    which forwards the client's fields as they are)."""
    raw = _load_object(body)
    return _named_tools(_validate_object(_messages_adapter, raw)), raw


def parse_messages_object(raw: dict[str, Any]) -> MessagesRequest:
    """Validate a request the gateway assembled itself (a thread's continue, rebuilt whole)."""
    _check_depth(raw)
    return _named_tools(_validate_object(_messages_adapter, raw))


def parse_count_tokens_request(body: bytes) -> CountTokensRequest:
    return _named_tools(_validate(_count_adapter, body))


_R = TypeVar("_R", MessagesRequest, CountTokensRequest)
MCP_TOOLSET = "mcp_toolset"


def _named_tools(req: _R) -> _R:
    """Every tool but an MCP toolset needs a name (the message pydantic gave when it was a
    required field)."""
    for n, tool in enumerate(req.get("tools") or ()):
        if "name" not in tool and tool.get("type") != MCP_TOOLSET:
            raise InvalidRequest(f"tools.{n}.name: Field required")
    return req


def _load_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    _check_depth(data)
    return data


# orjson reads 1024 levels but writes only 254, and the gateway writes parts of a request again
# inside structures of its own (a tool schema inside an OpenAI tool, counted pieces): a request
# it could read but not write would fail later as a crash. Serialising inside this many levels
# of padding is the cheapest exact depth check (C speed, no Python walk).
MAX_DEPTH = 190
_PADDING = 254 - MAX_DEPTH


def _check_depth(data: dict[str, Any]) -> None:
    padded: Any = data
    for _ in range(_PADDING):
        padded = [padded]
    try:
        orjson.dumps(padded)
    except orjson.JSONEncodeError:
        raise InvalidRequest(
            f"the request body is nested too deeply (more than {MAX_DEPTH} levels)"
        ) from None


def _validate(adapter: TypeAdapter[_T], body: bytes) -> _T:
    return _validate_object(adapter, _load_object(body))


def _validate_object(adapter: TypeAdapter[_T], data: dict[str, Any]) -> _T:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise InvalidRequest(_describe(exc)) from None
    except RecursionError:
        raise InvalidRequest("the request body is nested too deeply") from None


def _describe(exc: ValidationError) -> str:
    """`messages.0.content.1.text: Input should be a valid string` — Anthropic-style, no input
    echoed. Of a union's failed branches, the one that got deepest names the real problem (a bad
    block is also "not a string" for `content: str | list[Block]`)."""
    errors = exc.errors(include_url=False, include_input=False)
    located = [(_location(error["loc"]), error["msg"]) for error in errors]
    loc, msg = max(located, key=lambda item: len(item[0]))
    where = ".".join(loc) or "body"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"{where}: {msg}{more}"


_TAGS = _KNOWN_BLOCKS | {"other"}
_SOURCE_TAGS = {"base64", "url"}
_MEMBER_LABELS = {"str", "none", "int", "bool", "float", "TextBlock", "Base64Source", "UrlSource"}
_GENERIC_LABELS = ("list[", "dict[", "function-", "tagged-union", "Annotated")


def _location(loc: tuple[int | str, ...]) -> list[str]:
    """The path as JSON reads it, without pydantic's union member and tag labels. A block's tag
    follows its index in a tagged-union list, an image source's tag follows `source`; elsewhere
    the same word is a field (the top-level `thinking`, a text block's `text`)."""
    path: list[str] = []
    for n, part in enumerate(loc):
        if isinstance(part, str) and _is_label(part, loc[max(0, n - 2) : n]):
            continue
        path.append(str(part))
    return path


def _is_label(part: str, before: tuple[int | str, ...]) -> bool:
    if part in _MEMBER_LABELS or part.startswith(_GENERIC_LABELS):
        return True
    if before and before[-1] == "source":
        return part in _SOURCE_TAGS
    return (
        part in _TAGS
        and len(before) == 2
        and isinstance(before[1], int)
        and str(before[0]).startswith("list[tagged-union")
    )
