"""Non-streamed chat completions as Anthropic messages; stop reasons and usage."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.translate.response import (
    map_stop_reason,
    map_usage,
    openai_to_anthropic,
    openai_to_anthropic_with_notes,
    text_message,
)
from gateway.translate.thinking import SIGNATURE

MESSAGE_ID = "msg_0a1b2c3d4e5f"


def completion(
    message: dict[str, Any], finish: str | None = "stop", **extra: Any
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-Q2nX0sWmT3uY1bK7cD4e",
        "object": "chat.completion",
        "created": 1763712000,
        "model": "qwen3-8b",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
        ],
        "usage": {"prompt_tokens": 120, "completion_tokens": 8, "total_tokens": 128},
        **extra,
    }


def translate(resp: dict[str, Any]) -> dict[str, Any]:
    return openai_to_anthropic(resp, client_model="claude-sonnet-4-6", message_id=MESSAGE_ID)


def test_text_answer() -> None:
    assert translate(completion({"content": "Hello."})) == {
        "id": MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [{"type": "text", "text": "Hello."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 120,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 8,
        },
    }


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_fields_become_a_thinking_block_first(field: str) -> None:
    message = translate(completion({"content": "Hi!", field: "Greet back."}))
    assert message["content"] == [
        {"type": "thinking", "thinking": "Greet back.", "signature": SIGNATURE},
        {"type": "text", "text": "Hi!"},
    ]


def test_think_tags_in_content_become_a_thinking_block() -> None:
    message = translate(completion({"content": "<think>\nGreet back.\n</think>\n\nHi!"}))
    assert message["content"] == [
        {"type": "thinking", "thinking": "Greet back.\n", "signature": SIGNATURE},
        {"type": "text", "text": "Hi!"},
    ]


def test_content_as_a_list_of_parts() -> None:
    message = translate(
        completion({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]})
    )
    assert message["content"] == [{"type": "text", "text": "ab"}]


def test_null_content_and_no_choices_give_no_blocks() -> None:
    assert translate(completion({"content": None}))["content"] == []
    empty = translate({"id": "x", "choices": []})
    assert empty["content"] == [] and empty["stop_reason"] == "end_turn"
    assert empty["usage"]["input_tokens"] == 0


def test_tool_calls_get_the_gateways_ids_and_parse_arguments() -> None:
    calls = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
        },
        {"type": "function", "function": {"name": "Read", "arguments": '{"file_path": "/a",}'}},
        {"id": "call_3", "type": "function", "function": {"name": "Edit", "arguments": "not json"}},
        {"id": "call_4", "type": "function", "function": {"name": "TaskList", "arguments": ""}},
    ]
    message = translate(completion({"content": "Working.", "tool_calls": calls}, "tool_calls"))
    assert message["content"] == [
        {"type": "text", "text": "Working."},
        {
            "type": "tool_use",
            "id": "toolu_0a1b2c3d4e5f_1",
            "name": "Bash",
            "input": {"command": "ls"},
        },
        {
            "type": "tool_use",
            "id": "toolu_0a1b2c3d4e5f_2",
            "name": "Read",
            "input": {"file_path": "/a"},
        },
        {
            "type": "tool_use",
            "id": "toolu_0a1b2c3d4e5f_3",
            "name": "Edit",
            "input": {"_raw_arguments": "not json"},
        },
        {"type": "tool_use", "id": "toolu_0a1b2c3d4e5f_4", "name": "TaskList", "input": {}},
    ]
    assert message["stop_reason"] == "tool_use"


def test_legacy_function_call() -> None:
    message = translate(
        completion(
            {"content": None, "function_call": {"name": "Bash", "arguments": "{}"}}, "function_call"
        )
    )
    assert message["content"] == [
        {"type": "tool_use", "id": "toolu_0a1b2c3d4e5f_0", "name": "Bash", "input": {}}
    ]
    assert message["stop_reason"] == "tool_use"


def test_tool_call_finished_with_stop_is_tool_use() -> None:
    calls = [{"id": "call_1", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}]
    assert (
        translate(completion({"content": "", "tool_calls": calls}, "stop"))["stop_reason"]
        == "tool_use"
    )


@pytest.mark.parametrize(
    ("finish", "had_tool_use", "expected"),
    [
        ("stop", False, "end_turn"),
        ("length", False, "max_tokens"),
        ("tool_calls", False, "tool_use"),
        ("function_call", False, "tool_use"),
        ("content_filter", False, "refusal"),
        (None, False, "end_turn"),
        ("eos", False, "end_turn"),
        ("stop", True, "tool_use"),
        (None, True, "tool_use"),
        ("tool_calls", True, "tool_use"),
        # A cut-off tool call has incomplete arguments: Anthropic reports max_tokens too.
        ("length", True, "max_tokens"),
        ("content_filter", True, "refusal"),
    ],
)
def test_map_stop_reason(finish: str | None, had_tool_use: bool, expected: str) -> None:
    assert map_stop_reason(finish, had_tool_use=had_tool_use) == expected


def _usage(input_tokens: int, output: int, cached: int) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": output,
    }


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (None, _usage(0, 0, 0)),
        ({}, _usage(0, 0, 0)),
        ({"prompt_tokens": 100, "completion_tokens": 7}, _usage(100, 7, 0)),
        ({"prompt_tokens": 100}, _usage(100, 0, 0)),
        (
            {
                "prompt_tokens": 19458,
                "completion_tokens": 4,
                "prompt_tokens_details": {"cached_tokens": 19330},
            },
            _usage(128, 4, 19330),
        ),
        (
            {"prompt_tokens": 50, "completion_tokens": 2, "prompt_tokens_details": None},
            _usage(50, 2, 0),
        ),
        ({"prompt_tokens": 50, "completion_tokens": None}, _usage(50, 0, 0)),
        (
            {"prompt_tokens": 90, "completion_tokens": 1, "prompt_cache_hit_tokens": 64},
            _usage(26, 1, 64),
        ),
    ],
)
def test_map_usage(usage: dict[str, Any] | None, expected: dict[str, int]) -> None:
    assert map_usage(usage) == expected


def test_text_message() -> None:
    assert text_message(
        "No web search here.", client_model="claude-haiku-4-5", message_id="msg_1"
    ) == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "No web search here."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": _usage(0, 0, 0),
    }


def test_a_call_written_as_text_becomes_a_tool_use_block() -> None:
    text = 'Checking.\n{"name": "Read", "arguments": {"file_path": "README.md"}}'
    message, notes = openai_to_anthropic_with_notes(
        completion({"content": text}),
        client_model="claude-sonnet-4-6",
        message_id=MESSAGE_ID,
        tool_names=["Read"],
    )
    assert message["content"] == [
        {"type": "text", "text": "Checking.\n"},
        {
            "type": "tool_use",
            "id": "toolu_0a1b2c3d4e5f_1",
            "name": "Read",
            "input": {"file_path": "README.md"},
        },
    ]
    assert message["stop_reason"] == "tool_use"
    assert notes == ["tool call written as text repaired (bare JSON format)"]
    # The one-result function gives the same message, and without tools the text is left.
    assert (
        openai_to_anthropic(
            completion({"content": text}),
            client_model="claude-sonnet-4-6",
            message_id=MESSAGE_ID,
            tool_names=["Read"],
        )
        == message
    )
    assert translate(completion({"content": text}))["content"] == [{"type": "text", "text": text}]


def test_text_calls_come_before_the_backends_own_calls() -> None:
    native = {"id": "call_1", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}
    message, _ = openai_to_anthropic_with_notes(
        completion({"content": "[TOOL_CALLS]Read[ARGS]{}", "tool_calls": [native]}, "tool_calls"),
        client_model="claude-sonnet-4-6",
        message_id=MESSAGE_ID,
        tool_names=["Read", "Bash"],
    )
    assert [(block["name"], block["id"]) for block in message["content"]] == [
        ("Read", "toolu_0a1b2c3d4e5f_0"),
        ("Bash", "toolu_0a1b2c3d4e5f_1"),
    ]


def test_an_unreadable_text_call_is_a_note() -> None:
    message, notes = openai_to_anthropic_with_notes(
        completion({"content": "<function=Read>\n<parameter=file_path>\na\n</parameter>\nhm"}),
        client_model="claude-sonnet-4-6",
        message_id=MESSAGE_ID,
        tool_names=["Read"],
    )
    assert message["stop_reason"] == "end_turn"
    assert len(notes) == 1 and "could not be read" in notes[0]
