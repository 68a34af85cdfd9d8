"""tool_choice for backends that ignore it (Ollama's Anthropic API): what the client requires,
the one-line instruction that asks the model for it, and whether an answer gives it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from gateway.errors import InvalidRequest
from gateway.schemas.anthropic import MessagesRequest

__all__ = ["ToolRequirement", "required_tool", "satisfies", "with_instruction"]


@dataclass(frozen=True, slots=True)
class ToolRequirement:
    """The answer must call one of `names` (`any`: every declared tool; `tool`: one)."""

    kind: Literal["any", "tool"]
    names: tuple[str, ...]

    @property
    def instruction(self) -> str:
        if len(self.names) == 1:
            return f"You must answer by calling the tool `{self.names[0]}` now."
        listed = ", ".join(f"`{name}`" for name in self.names)
        return f"You must answer by calling one of these tools now: {listed}."


def required_tool(req: MessagesRequest) -> ToolRequirement | None:
    """What `tool_choice` requires; None for auto, none, or no choice (or nothing to call)."""
    choice = req.get("tool_choice")
    if not choice or choice["type"] not in ("any", "tool"):
        return None
    # Server tools (web_search…) run at Anthropic; a local model cannot call them.
    names = tuple(
        tool["name"]
        for tool in req.get("tools") or ()
        if not tool.get("type") or "input_schema" in tool
    )
    if choice["type"] == "any":
        return ToolRequirement("any", names) if names else None
    name = choice.get("name")
    if not name:
        raise InvalidRequest("tool_choice.name: Field required when tool_choice.type is tool")
    if name not in names:
        raise InvalidRequest(f"tool_choice names the tool `{name}`, which is not in tools")
    return ToolRequirement("tool", (name,))


def with_instruction(req: MessagesRequest, requirement: ToolRequirement) -> MessagesRequest:
    """A copy of `req` whose last user turn (or, when the last turn is not the user's, whose
    system prompt) ends with the requirement's instruction; `req` itself is not changed."""
    line = requirement.instruction
    copy = cast(dict[str, Any], dict(req))
    messages = list(req["messages"])
    if messages and messages[-1]["role"] in ("user", "human"):
        last: dict[str, Any] = dict(messages[-1])
        content = last["content"]
        if isinstance(content, str):
            last["content"] = f"{content}\n\n{line}" if content else line
        else:
            last["content"] = [*content, {"type": "text", "text": line}]
        messages[-1] = cast(Any, last)
        copy["messages"] = messages
    else:
        system = req.get("system")
        if isinstance(system, list):
            copy["system"] = [*system, {"type": "text", "text": line}]
        else:
            copy["system"] = f"{system}\n\n{line}" if system else line
    return cast(MessagesRequest, copy)


def satisfies(message: dict[str, Any], requirement: ToolRequirement) -> bool:
    """Whether an Anthropic message calls a tool the requirement allows."""
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(block, dict)
        and block.get("type") == "tool_use"
        and block.get("name") in requirement.names
        for block in content
    )
