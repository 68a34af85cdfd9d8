"""A Claude Code conversation of many turns, grown from a captured first request the way Claude
Code grows it: its answers echoed back whole (thinking included), tool results with the
`<total_tokens>` system message Claude Code sends after them, the cache marker moved to the newest
block, the first system message resent as a string, and a tool added mid-conversation (tool
search's deferred tool on 2.1.3xx, a `tool_addition` of a tool definition on 2.1.197)."""

from __future__ import annotations

import copy
from typing import Any

import anthropic
from anthropic.lib.streaming import BetaMessageStreamManager

from tests.paths import load_fixture

__all__ = ["BASES", "ClaudeCodeSession", "TURN_COUNT", "sdk_stream"]

# The captured first requests a session starts from, one per Claude Code version.
BASES = ("claude-code-2.1.197-print-say-hi", "claude-code-2.1.332-print-toolsearch-turn1")
# The 2.1.332 capture of the turn after tool search loaded CronCreate: where its definition
# comes from.
_TOOLSEARCH_TURN2 = "claude-code-2.1.332-print-toolsearch-turn2"
TURN_COUNT = 7
_CACHE = {"type": "ephemeral"}
# A tool a 2.1.197 session adds by definition (mid-conversation tool changes).
MONITOR: dict[str, Any] = {
    "name": "Monitor",
    "description": "Watch a background command and report its output.",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
}
_FORWARDED = ("anthropic-beta", "anthropic-version", "x-claude-code-session-id", "x-app")


class ClaudeCodeSession:
    """One conversation: `request()` is the next body to send; the other methods add what
    Claude Code adds between two turns."""

    def __init__(self, base: str, model: str = "claude-sonnet-4-6") -> None:
        captured = load_fixture(base)
        self.name = base
        self.body: dict[str, Any] = captured["body"]
        self.body["model"] = model  # the capture's name was anonymised
        self.body.pop("safeguards", None)  # auto mode is not what this session is about
        self.headers = {
            name.lower(): value
            for name, value in captured["headers"].items()
            if name.lower() in _FORWARDED
        }
        self.deferred = any(tool.get("defer_loading") for tool in self.body.get("tools") or ())

    @property
    def session_id(self) -> str:
        return str(self.headers["x-claude-code-session-id"])

    def request(self) -> dict[str, Any]:
        """The next request's body (a copy)."""
        return copy.deepcopy(self.body)

    def answered(self, content: list[dict[str, Any]]) -> None:
        """The assistant's answer, echoed as Claude Code echoes it: every block as received."""
        self._append({"role": "assistant", "content": copy.deepcopy(content)})

    def tool_results(self, *results: tuple[str, Any], text: str | None = None) -> None:
        """A user turn of tool results (and a note after them), then `<total_tokens>`."""
        blocks: list[dict[str, Any]] = [
            {"type": "tool_result", "tool_use_id": tool_id, "content": content}
            for tool_id, content in results
        ]
        if text:
            blocks.append({"type": "text", "text": text})
        self._append({"role": "user", "content": blocks})
        left = 200_000 - 40 * len(self.body["messages"])
        self._append(
            {"role": "system", "content": f"<total_tokens>{left} tokens left</total_tokens>"}
        )

    def user(self, text: str) -> None:
        self._append({"role": "user", "content": [{"type": "text", "text": text}]})

    def note(self, text: str) -> None:
        """A system message of its own after the user's turn (`<total_tokens>`…)."""
        self._append({"role": "system", "content": text})

    def load_tool(self, search_id: str) -> str:
        """Answer a ToolSearch call with a tool, the way this version does; the tool's name."""
        if self.deferred:
            # 2.1.3xx: the deferred definition joins `tools` (in name order, as captured) and
            # the search result names it.
            later = load_fixture(_TOOLSEARCH_TURN2)["body"]["tools"]
            cron = next(tool for tool in later if tool["name"] == "CronCreate")
            tools = [*self.body["tools"], cron]
            self.body["tools"] = sorted(tools, key=lambda tool: str(tool["name"]))
            self.tool_results(
                (search_id, [{"type": "tool_reference", "tool_name": "CronCreate"}]),
                text="Tool loaded.",
            )
            return "CronCreate"
        self.tool_results((search_id, "Monitor is available."))
        definition = {"type": "tool_definition", "definition": MONITOR}
        addition = {"type": "tool_addition", "tool": definition}
        self._append({"role": "system", "content": [addition]})
        return "Monitor"

    def _append(self, message: dict[str, Any]) -> None:
        messages: list[dict[str, Any]] = self.body["messages"]
        for earlier in messages:
            content = earlier["content"]
            if isinstance(content, list):
                for block in content:
                    block.pop("cache_control", None)
                # Claude Code resends a one-block system message as a string.
                if earlier["role"] == "system" and len(content) == 1:
                    if content[0].get("type") == "text":
                        earlier["content"] = content[0]["text"]
        messages.append(message)
        last_user = next(m for m in reversed(messages) if m["role"] == "user")
        if isinstance(last_user["content"], list) and last_user["content"]:
            last_user["content"][-1]["cache_control"] = dict(_CACHE)


def sdk_stream(
    client: anthropic.Anthropic, body: dict[str, Any], headers: dict[str, str]
) -> BetaMessageStreamManager:
    """One turn's request body sent streamed through the official SDK, as Claude Code sends it
    (the SDK's beta messages, every field it does not name passed as it is)."""
    named = ("model", "max_tokens", "messages", "stream")
    return client.beta.messages.stream(
        model=body["model"],
        max_tokens=body["max_tokens"],
        messages=body["messages"],
        extra_body={k: v for k, v in body.items() if k not in named},
        extra_headers=headers,
    )
