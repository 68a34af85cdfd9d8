"""The tools in effect: `defer_loading` tools stay hidden until added, and mid-conversation
`tool_addition` / `tool_removal` blocks (and tool search's `tool_reference`) change the list."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from gateway.schemas.anthropic import MessagesRequest, Tool

__all__ = ["TOOL_CHANGES", "effective_tools"]

TOOL_CHANGES = frozenset({"tool_addition", "tool_removal"})


def effective_tools(req: MessagesRequest) -> tuple[list[Tool], list[str]]:
    """The tools the model may call now, and warnings for changes that name no tool. Declared
    tools keep their order; tools added by definition (`tool_definition`, the inline-tools beta
    the SDKs' tool runners use) follow, and replace a declared tool of the same name. Without
    changes or deferred tools: `tools` as it is."""
    tools = list(req.get("tools") or ())
    declared = {tool["name"] for tool in tools if "name" in tool}
    active = {tool["name"] for tool in tools if "name" in tool and not tool.get("defer_loading")}
    inline: dict[str, Tool] = {}
    warnings: list[str] = []
    for kind, name, definition in _changes(req):
        if definition is not None:
            inline[name] = definition
            active.add(name)
        elif name not in declared and name not in inline:
            warnings.append(f"{kind} names the tool {name!r}, which is not in tools; ignored")
        elif kind == "tool_removal":
            active.discard(name)
        else:
            active.add(name)
    if not inline and len(active) == len(declared):
        return tools, warnings
    kept = [
        tool
        for tool in tools
        if "name" not in tool or (tool["name"] in active and tool["name"] not in inline)
    ]
    return kept + [tool for name, tool in inline.items() if name in active], warnings


def _changes(req: MessagesRequest) -> Iterator[tuple[str, str, Tool | None]]:
    """(kind, tool name, the definition of a tool added by value) in conversation order:
    additions and removals in system messages, and tool search's references in tool results
    (an addition)."""
    for message in req["messages"]:
        content = message["content"]
        if isinstance(content, str):
            continue
        for block in content:
            kind = block["type"]
            if kind in TOOL_CHANGES and message["role"] == "system":
                tool = block.get("tool")
                definition = _definition(tool) if kind == "tool_addition" else None
                name = definition["name"] if definition is not None else _reference_name(tool)
                if name:
                    yield kind, name, definition
            elif kind == "tool_result":
                parts = block.get("content")
                for part in parts if isinstance(parts, list) else ():
                    name = _reference_name(part)
                    if name:
                        yield "tool_addition", name, None


def _definition(tool: Any) -> Tool | None:
    """A `tool_definition`'s tool, when it is a named one."""
    if not (isinstance(tool, Mapping) and tool.get("type") == "tool_definition"):
        return None
    definition = tool.get("definition")
    if isinstance(definition, dict) and isinstance(definition.get("name"), str):
        found: Tool = definition  # type: ignore[assignment]
        return found
    return None


def _reference_name(tool: Any) -> str | None:
    """A `tool_reference`'s tool name (`name` in tool changes, `tool_name` from tool search)."""
    if isinstance(tool, Mapping) and tool.get("type") == "tool_reference":
        name = tool.get("name", tool.get("tool_name"))
        return name if isinstance(name, str) else None
    return None
