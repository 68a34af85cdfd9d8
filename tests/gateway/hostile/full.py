"""One Messages request with every field and every block type set: the base that the hostile
tests break one field of at a time."""

from __future__ import annotations

from typing import Any

__all__ = ["COUNT_FIELDS", "FULL"]

FULL: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 50,
    "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
                },
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "a"}],
                    "is_error": False,
                },
            ],
        },
    ],
    "stream": False,
    "tools": [{"name": "Bash", "description": "run", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "tool", "name": "Bash", "disable_parallel_tool_use": True},
    "temperature": 0.5,
    "top_p": 0.9,
    "top_k": 5,
    "stop_sequences": ["STOP"],
    "thinking": {"type": "enabled", "budget_tokens": 1000},
    "output_config": {"effort": "high", "format": {"type": "json_schema"}},
    "metadata": {"user_id": "u"},
}
# The fields that `POST /v1/messages/count_tokens` takes.
COUNT_FIELDS = {"model", "messages", "system", "tools", "tool_choice", "thinking"}
