"""An Anthropic Messages request as an OpenAI chat-completions request body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.errors import InvalidRequest
from gateway.schemas.anthropic import MCP_TOOLSET, MessagesRequest, Tool
from gateway.translate.client_tools import client_tool_function
from gateway.translate.conversation import convert_conversation
from gateway.translate.documents import PdfReader
from gateway.translate.toolset import effective_tools

__all__ = [
    "BackendTraits",
    "Translation",
    "anthropic_to_openai",
    "backend_tool_names",
    "clean_schema",
    "is_web_search_request",
    "refuse_mcp_connector",
    "shows_thinking",
]


@dataclass(frozen=True, slots=True)
class BackendTraits:
    """Per-backend knobs (the backends work later fills a table of these)."""

    vision: bool = True  # images allowed; else text note + warning
    # Send `reasoning_effort` (low|medium|high) when thinking is on: remote reasoning models, and
    # Ollama's OpenAI endpoint (documented: "reasoning_effort", model-defined names and aliases).
    # LM Studio, llama.cpp, vLLM and SGLang document no such field for chat completions.
    reasoning_effort: bool = False
    # chat_template_kwargs={"enable_thinking": bool}: llama.cpp, vLLM, SGLang, LM Studio honour it
    thinking_switch: bool = True
    stream_usage: bool = True  # send stream_options={"include_usage": true} when streaming
    json_schema: bool = True  # output_config.format -> response_format json_schema
    max_tokens_field: str = "max_tokens"  # or "max_completion_tokens" (OpenAI reasoning models)
    reasoning_roundtrip: bool = False  # DeepSeek: thinking back as reasoning_content on tool turns
    clean_json_schema: bool = False  # Gemini: tool schemas without the keywords it refuses


@dataclass(frozen=True, slots=True)
class Translation:
    body: dict[str, Any]  # the OpenAI chat-completions request body (model set to `model`)
    changes: tuple[str, ...]  # what the gateway changed, for the request record
    warnings: tuple[str, ...]  # what the backend will not see, e.g. a replaced document block


_DEFAULT_TRAITS = BackendTraits()
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


def anthropic_to_openai(
    req: MessagesRequest,
    model: str,
    *,
    stream: bool,
    traits: BackendTraits = _DEFAULT_TRAITS,
    pdf: PdfReader | None = None,
) -> Translation:
    """Translate; pieces of `req` (tool schemas, text) are shared with the body, not copied.
    The MCP connector is refused (400): only Anthropic's own API can run it. `pdf` reads a
    base64 PDF (the gateway hands in its cache)."""
    refuse_mcp_connector(req)
    messages, changes, warnings = convert_conversation(
        req, vision=traits.vision, reasoning_roundtrip=traits.reasoning_roundtrip, pdf=pdf
    )
    body: dict[str, Any] = {"model": model, "messages": messages}
    tools, tool_warnings = effective_tools(req)
    warnings.extend(tool_warnings)
    declared = [tool for tool in req.get("tools") or () if "name" in tool]
    given = {id(tool) for tool in tools}
    withheld = sum(1 for tool in declared if id(tool) not in given)
    if withheld:
        changes.append(f"{withheld} deferred or removed tool(s) withheld from the backend")
    added = len(tools) - (len(req.get("tools") or ()) - withheld)
    if added:
        changes.append(f"{added} tool(s) added mid-conversation by definition sent to the backend")
    _tools(req, tools, body, changes, warnings, clean=traits.clean_json_schema)
    body[traits.max_tokens_field] = req["max_tokens"]
    for key in ("temperature", "top_p", "top_k"):
        value = req.get(key)
        if value is not None:
            body[key] = value
    stop = req.get("stop_sequences")
    if stop:
        body["stop"] = stop
    if "metadata" in req:
        changes.append("metadata dropped")  # it carries Claude Code's device and session ids
    output: dict[str, Any] = dict(req.get("output_config") or {})
    fmt = output.get("format")
    if not fmt and req.get("output_format"):
        fmt = req.get("output_format")  # the older top-level spelling of the same thing
        if _response_format(fmt, body, traits, warnings):
            changes.append("output_format sent as response_format")
    else:
        if fmt and req.get("output_format"):
            changes.append("output_format dropped: output_config.format says the same")
        if _response_format(fmt, body, traits, warnings):
            changes.append("output_config.format sent as response_format")
    if output.get("task_budget"):
        changes.append("output_config.task_budget dropped (the backend has no task budget)")
    _reasoning(req, output.get("effort"), body, traits, changes)
    body["stream"] = stream
    if stream and traits.stream_usage:
        body["stream_options"] = {"include_usage": True}
    return Translation(body, tuple(changes), tuple(warnings))


def backend_tool_names(req: MessagesRequest) -> tuple[str, ...]:
    """The names of the tools the backend gets as functions (custom and client tools): the
    names a tool call written as text may use."""
    return tuple(
        tool["name"]
        for tool in effective_tools(req)[0]
        if "name" in tool and ("input_schema" in tool or client_tool_function(tool) is not None)
    )


def shows_thinking(req: MessagesRequest) -> bool:
    """False when the client asked for `thinking.display: "omitted"`: the answer then carries
    no thinking text (and, for a local model, no thinking blocks at all)."""
    thinking = req.get("thinking")
    return not (thinking and thinking.get("display") == "omitted")


def refuse_mcp_connector(req: MessagesRequest) -> None:
    """The MCP connector (`mcp_servers`, an `mcp_toolset` tool) as a clear 400: only Anthropic's
    own API runs it."""
    toolsets = [t for t in req.get("tools") or () if t.get("type") == MCP_TOOLSET]
    if req.get("mcp_servers") or toolsets:
        what = "`mcp_servers`" if req.get("mcp_servers") else "an `mcp_toolset` tool"
        raise InvalidRequest(
            f"this request uses the MCP connector ({what}), which only Anthropic's API can run: "
            "a local backend cannot reach MCP servers for the model. Configure the MCP servers "
            "in the client instead (for Claude Code: `claude mcp add`)."
        )


def is_web_search_request(req: MessagesRequest) -> bool:
    """Claude Code's internal web-search call: only web_search server tools, and one forced."""
    tools = req.get("tools")
    choice = req.get("tool_choice")
    if not tools or not choice:
        return False
    names = set()
    for tool in tools:
        kind = tool.get("type")
        if "input_schema" in tool or not (isinstance(kind, str) and kind.startswith("web_search")):
            return False
        names.add(tool["name"])
    if choice["type"] == "tool":
        return choice.get("name") in names
    return choice["type"] == "any"


def _tools(
    req: MessagesRequest,
    declared: list[Tool],
    body: dict[str, Any],
    changes: list[str],
    warnings: list[str],
    *,
    clean: bool = False,
) -> None:
    tools: list[dict[str, Any]] = []
    names: set[str] = set()
    for tool in declared:
        schema = tool.get("input_schema")
        client = client_tool_function(tool) if schema is None else None
        if client is not None:
            # bash, text editor, memory: the client runs them, so the model may call them too.
            if clean:
                client = {**client, "parameters": clean_schema(client["parameters"])}
            tools.append({"type": "function", "function": client})
            names.add(tool["name"])
            changes.append(f"client tool {tool['name']} ({tool.get('type')}) sent as a function")
            continue
        if schema is None:
            # A server tool (web_search_20250305, code_execution…) runs at Anthropic, not here.
            label = f"{tool['name']} ({tool.get('type') or 'no input_schema'})"
            changes.append(f"server tool {tool['name']} dropped")
            warnings.append(f"server tool {label} dropped: the backend cannot run it")
            continue
        function: dict[str, Any] = {"name": tool["name"]}
        if tool.get("description"):
            function["description"] = tool["description"]
        # Unchanged ($schema, anyOf, const… are the model's guide) unless the provider refuses them.
        function["parameters"] = clean_schema(schema) if clean else schema
        tools.append({"type": "function", "function": function})
        names.add(tool["name"])
    if clean and tools:
        changes.append("tool schemas cleaned for the provider")
    if not tools:
        return  # `tools: []` trips some servers' templates; no tool_choice without tools either
    body["tools"] = tools
    choice = req.get("tool_choice")
    if not choice:
        return
    kind = choice["type"]
    if kind == "auto":
        body["tool_choice"] = "auto"
    elif kind == "any":
        body["tool_choice"] = "required"
    elif kind == "none":
        body["tool_choice"] = "none"
    else:
        name = choice.get("name")
        if name in names:
            body["tool_choice"] = {"type": "function", "function": {"name": name}}
        else:
            warnings.append(f"tool_choice names {name!r}, which the backend does not get; omitted")
    if choice.get("disable_parallel_tool_use"):
        body["parallel_tool_calls"] = False


def _response_format(
    fmt: dict[str, Any] | None, body: dict[str, Any], traits: BackendTraits, warnings: list[str]
) -> bool:
    """Map an output format to `response_format`; whether it was."""
    if not fmt:
        return False
    schema = fmt.get("schema")
    if fmt.get("type") != "json_schema" or not isinstance(schema, dict):
        warnings.append(f"output format {fmt.get('type')!r} is not supported; dropped")
    elif not traits.json_schema:
        warnings.append("this backend has no structured output; the JSON schema was dropped")
    else:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": schema, "strict": True},
        }
        return True
    return False


def _reasoning(
    req: MessagesRequest,
    effort: str | None,
    body: dict[str, Any],
    traits: BackendTraits,
    changes: list[str],
) -> None:
    thinking = req.get("thinking")
    on = bool(thinking) and thinking is not None and thinking["type"] in ("enabled", "adaptive")
    if traits.thinking_switch:
        body["chat_template_kwargs"] = {"enable_thinking": on}
    if effort:
        # Said once, whichever way it goes: the effort is the client's, the backend's knob is not.
        if not traits.reasoning_effort:
            changes.append(f"output_config.effort {effort} dropped (no known effort setting here)")
        elif not on:
            changes.append(f"output_config.effort {effort} dropped (thinking is off)")
        elif effort in _EFFORTS:
            changes.append(
                f"output_config.effort {effort} sent as reasoning_effort {_EFFORTS[effort]}"
            )
        else:
            changes.append(f"output_config.effort {effort!r} is not known; dropped")
    if on and traits.reasoning_effort:
        level = _EFFORTS.get(effort or "")
        if level is None:
            budget = thinking.get("budget_tokens") if thinking else None
            if budget is None:
                level = "high"  # Anthropic's default effort
            elif budget < 4096:
                level = "low"
            elif budget < 16384:
                level = "medium"
            else:
                level = "high"
        body["reasoning_effort"] = level


# Gemini's OpenAI-compatible endpoint takes an OpenAPI subset of JSON Schema and answers 400 to
# the rest (Claude Code's schemas carry $schema, additionalProperties, const, exclusiveMinimum…).
_REFUSED_KEYWORDS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "additionalProperties",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "propertyNames",
        "patternProperties",
        "unevaluatedProperties",
        "examples",
        "default",
    }
)
_KEPT_FORMATS = frozenset({"enum", "date-time"})


def clean_schema(schema: Any) -> Any:
    """A copy of a JSON schema without the keywords Gemini refuses; `const` becomes a one-value
    `enum` and string formats other than enum/date-time are dropped. The input is not changed."""
    if isinstance(schema, list):
        return [clean_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _REFUSED_KEYWORDS:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "format" and value not in _KEPT_FORMATS:
            continue
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: clean_schema(sub) for name, sub in value.items()}
        else:
            out[key] = clean_schema(value)
    return out
