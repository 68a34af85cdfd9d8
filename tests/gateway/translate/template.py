"""The rules strict chat templates enforce (Gemma's, many Jinja templates), as one checker.

One system message, first; then user first and user/assistant alternating; an assistant's
tool calls answered by tool messages right after it, one per call, before anything else; no
null content; the conversation ends on the user's side so the model has a turn to take.
"""

from __future__ import annotations

import json
from typing import Any


def assert_strict_template(messages: list[dict[str, Any]]) -> None:
    assert messages, "no messages"
    body = messages
    if messages[0]["role"] == "system":
        assert isinstance(messages[0]["content"], str) and messages[0]["content"], "system"
        body = messages[1:]
    assert body, "only a system message"
    assert body[0]["role"] == "user", f"the first turn is {body[0]['role']}, not user"
    pending: set[str] | None = None  # the last assistant's tool calls still to be answered
    previous = ""
    for i, message in enumerate(body):
        role = message["role"]
        where = f"message {i} ({role})"
        assert "content" in message and message["content"] is not None, f"{where}: no content"
        if role == "tool":
            assert previous in ("assistant", "tool") and pending is not None, f"{where}: stray"
            call_id = message["tool_call_id"]
            assert call_id in pending, f"{where}: {call_id} answers no open call"
            pending.discard(call_id)
            assert isinstance(message["content"], str), f"{where}: content not a string"
        elif role in ("user", "assistant"):
            assert not pending, f"{where}: tool calls {sorted(pending)} were not answered"
            pending = None
            assert previous != role, f"{where}: two {role} turns in a row"
            if role == "user":
                _assert_user_content(message["content"], where)
            else:
                assert isinstance(message["content"], str), f"{where}: content not a string"
                calls = message.get("tool_calls")
                if calls:
                    pending = {_checked_call(call, where) for call in calls}
                    assert len(pending) == len(calls), f"{where}: duplicate call ids"
        else:
            raise AssertionError(f"{where}: role {role!r} is not allowed here")
        previous = role
    assert not pending, f"tool calls {sorted(pending or ())} were not answered"
    assert previous in ("user", "tool"), "the conversation ends with an assistant turn"


def _assert_user_content(content: Any, where: str) -> None:
    if isinstance(content, str):
        return
    assert isinstance(content, list) and content, f"{where}: content {content!r}"
    for part in content:
        if part["type"] == "text":
            assert isinstance(part["text"], str), where
        else:
            assert part["type"] == "image_url", f"{where}: part {part['type']}"
            assert isinstance(part["image_url"]["url"], str), where


def _checked_call(call: dict[str, Any], where: str) -> str:
    assert call["type"] == "function", where
    assert isinstance(call["id"], str) and call["id"], f"{where}: call without id"
    assert isinstance(call["function"]["name"], str), where
    arguments = json.loads(call["function"]["arguments"])
    assert isinstance(arguments, dict), f"{where}: arguments are not a JSON object"
    return str(call["id"])
