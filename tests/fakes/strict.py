"""The chat-template strictness of a real backend, for the fakes' strict mode.

Gemma's official template, applied by llama.cpp (`--jinja`) and LM Studio, refuses any
conversation that is not [system?] then user/assistant turns in strict alternation, and a
system message anywhere but first; llama.cpp answers HTTP 400 with the template's own words.
Tool results are allowed right after an assistant message with tool_calls (and after each
other, for parallel calls); after them either side may speak.

llama-cpp-python validates assistant messages with pydantic: `content: null` is a 422 and a
missing `content` a 500 (shared/reference/real-clients-and-backends.md §3); `""` is fine.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.replies import Error

__all__ = ["ALTERNATION_ERROR", "content_violation", "role_order_violation"]

ALTERNATION_ERROR = "Conversation roles must alternate user/assistant/user/assistant/..."


def role_order_violation(messages: Any) -> str | None:
    """The template's error message, or None when the role order is acceptable."""
    if not isinstance(messages, list):
        return ALTERNATION_ERROR
    expected = "user"
    # Only directly after an assistant message that called tools (or another tool result).
    tools_allowed = False
    for position, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "system" and position == 0:
            continue
        if role == "tool":
            if not tools_allowed:
                return ALTERNATION_ERROR
            expected = "either"
            continue
        if role not in ("user", "assistant") or expected not in (role, "either"):
            return ALTERNATION_ERROR
        tools_allowed = role == "assistant" and bool(message.get("tool_calls"))
        expected = "assistant" if role == "user" else "user"
    return None


def content_violation(messages: Any) -> Error | None:
    """llama-cpp-python's answer to an assistant message with null or missing content."""
    if not isinstance(messages, list):
        return None
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        if "content" not in message:
            return Error(
                500,
                {
                    "error": {
                        "message": "'content'",
                        "type": "internal_server_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
        if message["content"] is None:
            return Error(
                422,
                {
                    "detail": [
                        {
                            "type": "string_type",
                            "loc": ["body", "messages", index, "content"],
                            "msg": "Input should be a valid string",
                            "input": None,
                        }
                    ]
                },
            )
    return None
