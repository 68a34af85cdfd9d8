"""A native backend's complete message repaired: model, text tool calls, stop reason, usage."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gateway.repair.message import repair_message
from gateway.translate.thinking import SIGNATURE

MODEL = "claude-sonnet-4-6"
USAGE = {"input_tokens": 12, "output_tokens": 4}
FULL_USAGE = {
    "input_tokens": 12,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 4,
}


def native(content: Any, stop_reason: Any = "end_turn", **extra: Any) -> dict[str, Any]:
    # The shape llama.cpp's /v1/messages answers with (test_compat_anthropic.py).
    return {
        "id": "msg_backend",
        "type": "message",
        "role": "assistant",
        "model": "qwen3:4b",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": USAGE,
        **extra,
    }


def expected(content: list[dict[str, Any]], stop_reason: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "msg_backend",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": FULL_USAGE,
        **extra,
    }


TEXT = [{"type": "text", "text": "Hi."}]
CALL = {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}}
# The client never sees the backend's own id (several servers reuse `call_1` every turn).
CLIENT_CALL = {**CALL, "id": "toolu_backend_0"}

CASES: dict[str, tuple[dict[str, Any], dict[str, Any], list[str]]] = {
    "clean": (native(TEXT), expected(TEXT, "end_turn"), []),
    "tool call with end_turn (Ollama)": (
        native([CALL]),
        expected([CLIENT_CALL], "tool_use"),
        ["stop_reason end_turn with a tool call; tool_use sent"],
    ),
    "tool call cut off": (
        native([CALL], "max_tokens"),
        expected([CLIENT_CALL], "max_tokens"),
        [],
    ),
    "openai stop reason": (
        native(TEXT, "length"),
        expected(TEXT, "max_tokens"),
        ["stop_reason 'length' is not Anthropic's; max_tokens sent"],
    ),
    "no stop reason": (
        native(TEXT, None),
        expected(TEXT, "end_turn"),
        ["stop_reason missing; end_turn sent"],
    ),
    "thinking without a signature": (
        native([{"type": "thinking", "thinking": "hm"}, *TEXT]),
        expected(
            [{"type": "thinking", "thinking": "hm", "signature": SIGNATURE}, *TEXT], "end_turn"
        ),
        ["thinking block without a signature signed"],
    ),
    "tool call without id, input as a string": (
        native([{"type": "tool_use", "name": "Bash", "input": '{"command": "ls"}'}], "tool_use"),
        expected(
            [
                {
                    "type": "tool_use",
                    "id": "toolu_backend_0",
                    "name": "Bash",
                    "input": {"command": "ls"},
                }
            ],
            "tool_use",
        ),
        ["tool input sent as a string parsed"],
    ),
    "content as a string": (native("Hi."), expected(TEXT, "end_turn"), []),
    "a call written as text (ollama#15529)": (
        native(
            [{"type": "text", "text": 'Sure.\n{"name": "Bash", "arguments": {"command": "ls"}}'}]
        ),
        expected(
            [
                {"type": "text", "text": "Sure.\n"},
                {
                    "type": "tool_use",
                    "id": "toolu_backend_1",
                    "name": "Bash",
                    "input": {"command": "ls"},
                },
            ],
            "tool_use",
        ),
        [
            "tool call written as text repaired (bare JSON format)",
            "stop_reason end_turn with a tool call; tool_use sent",
        ],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_repair_message(name: str) -> None:
    given, want, repairs = CASES[name]
    before = copy.deepcopy(given)
    assert repair_message(given, client_model=MODEL, tool_names=["Bash"]) == (want, repairs)
    assert given == before


def test_the_gateways_message_id_names_the_message_and_its_tool_calls() -> None:
    message, _ = repair_message(
        native([CALL, {**CALL, "id": "call_1"}], "tool_use"),
        client_model=MODEL,
        message_id="msg_0a1b",
    )
    assert message["id"] == "msg_0a1b"
    assert [block["id"] for block in message["content"]] == ["toolu_0a1b_0", "toolu_0a1b_1"]


def test_usage_and_id_are_filled_in() -> None:
    message, repairs = repair_message(
        {"type": "message", "content": TEXT, "stop_reason": "end_turn"}, client_model=MODEL
    )
    assert message["id"] == "msg_lmgate"
    assert message["usage"] == dict.fromkeys(FULL_USAGE, 0)
    assert repairs == ["message id missing; one was given", "usage missing; zeros sent"]


def test_without_tool_names_text_is_left_alone() -> None:
    text = [{"type": "text", "text": '{"name": "Bash", "arguments": {}}'}]
    assert repair_message(native(text), client_model=MODEL) == (expected(text, "end_turn"), [])
