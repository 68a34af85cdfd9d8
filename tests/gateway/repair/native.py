"""Native Anthropic streams in the shapes Ollama, LM Studio and llama.cpp send them.

- Ollama (anthropic/anthropic.go, StreamConverter.Process, since 0.14): message_start with the
  first chunk's prompt count (often 0), `ping`, thinking opened as {"type": "thinking",
  "thinking": ""} and closed without a signature, a tool call as start, its whole input in one
  delta and stop, message_delta with input and output tokens and no stop_sequence.
- ollama#17101 (fixed by ollama#17225 in 0.32.2): text at index 0, a thinking block started at
  index 0 without a stop, and the answer's text deltas at index 1 without a start.
- llama.cpp (tools/server/server-task.cpp, to_json_anthropic_stream): thinking at index 0, text
  at 1, tool calls after; all left open until the end and closed in order there, the thinking
  block after an empty signature_delta; tool_use blocks without `input`; message_delta usage
  with output_tokens only (tools/server/tests/unit/test_compat_anthropic.py checks the shape).
- LM Studio (lmstudio.ai/docs/developer/anthropic-compat, since 0.4.1): the documented event
  sequence, tool input streamed in pieces.
"""

from __future__ import annotations

from typing import Any

from gateway.translate.thinking import SIGNATURE

Event = tuple[str, dict[str, Any]]


def message_start(model: str, input_tokens: int, message_id: str = "msg_backend") -> Event:
    message: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 0},
    }
    return ("message_start", {"type": "message_start", "message": message})


def block_start(index: int, block: dict[str, Any]) -> Event:
    return (
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )


def delta(index: int, body: dict[str, Any]) -> Event:
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": body})


def text(index: int, value: str) -> Event:
    return delta(index, {"type": "text_delta", "text": value})


def thinking(index: int, value: str) -> Event:
    return delta(index, {"type": "thinking_delta", "thinking": value})


def signature(index: int, value: str) -> Event:
    return delta(index, {"type": "signature_delta", "signature": value})


def partial_json(index: int, value: str) -> Event:
    return delta(index, {"type": "input_json_delta", "partial_json": value})


def block_stop(index: int) -> Event:
    return ("content_block_stop", {"type": "content_block_stop", "index": index})


def message_delta(body: dict[str, Any], usage: dict[str, Any] | None = None) -> Event:
    data: dict[str, Any] = {"type": "message_delta", "delta": body}
    if usage is not None:
        data["usage"] = usage
    return ("message_delta", data)


PING: Event = ("ping", {"type": "ping"})
MESSAGE_STOP: Event = ("message_stop", {"type": "message_stop"})
TEXT_SHELL = {"type": "text", "text": ""}
THINKING_SHELL = {"type": "thinking", "thinking": ""}


def usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    }


def message(content: list[dict[str, Any]], stop_reason: str, used: dict[str, int]) -> Any:
    """What the client should end up with (ids and model as the tests set them)."""
    return {
        "id": "msg_gateway",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": used,
    }


SIGNED = "thinking block without a signature signed"

RECORDED: dict[str, tuple[list[Event], Any, list[str]]] = {
    "ollama": (
        [
            message_start("qwen3:4b", 0),
            PING,
            block_start(0, THINKING_SHELL),
            thinking(0, "The user wants "),
            thinking(0, "the weather."),
            block_stop(0),
            block_start(1, TEXT_SHELL),
            text(1, "Let me check."),
            block_stop(1),
            block_start(
                2, {"type": "tool_use", "id": "call_q2w3", "name": "get_weather", "input": {}}
            ),
            partial_json(2, '{"location":"Paris"}'),
            block_stop(2),
            message_delta({"stop_reason": "tool_use"}, {"input_tokens": 45, "output_tokens": 21}),
            MESSAGE_STOP,
        ],
        message(
            [
                {
                    "type": "thinking",
                    "thinking": "The user wants the weather.",
                    "signature": SIGNATURE,
                },
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "call_q2w3",
                    "name": "get_weather",
                    "input": {"location": "Paris"},
                },
            ],
            "tool_use",
            usage(45, 21),
        ),
        [SIGNED],
    ),
    "ollama-17101": (
        [
            message_start("gemma4:26b", 0),
            block_start(0, TEXT_SHELL),
            text(0, "---"),
            text(0, "\n"),
            block_start(0, THINKING_SHELL),
            thinking(0, "Short question."),
            block_stop(0),
            text(1, "Paris."),
            block_stop(1),
            message_delta({"stop_reason": "end_turn"}, {"input_tokens": 30, "output_tokens": 12}),
            MESSAGE_STOP,
        ],
        message(
            [
                {"type": "text", "text": "---\n"},
                {"type": "thinking", "thinking": "Short question.", "signature": SIGNATURE},
                {"type": "text", "text": "Paris."},
            ],
            "end_turn",
            usage(30, 12),
        ),
        [
            "a block started at an index still open; the open block was closed first",
            SIGNED,
            "a delta for a block never started; a block was opened for it",
        ],
    ),
    "llama.cpp": (
        [
            message_start("gemma-3-270m", 18, "chatcmpl-Q2nX0sWm"),
            block_start(0, THINKING_SHELL),
            thinking(0, "Need a tool."),
            block_start(1, TEXT_SHELL),
            text(1, "Calling it."),
            block_start(2, {"type": "tool_use", "id": "XUbbOwCO", "name": "calculator"}),
            partial_json(2, '{"expression"'),
            partial_json(2, ':"2+2"}'),
            signature(0, ""),
            block_stop(0),
            block_stop(1),
            block_stop(2),
            message_delta(
                {"stop_reason": "tool_use", "stop_sequence": None}, {"output_tokens": 30}
            ),
            MESSAGE_STOP,
        ],
        message(
            [
                {"type": "thinking", "thinking": "Need a tool.", "signature": SIGNATURE},
                {"type": "text", "text": "Calling it."},
                {
                    "type": "tool_use",
                    "id": "XUbbOwCO",
                    "name": "calculator",
                    "input": {"expression": "2+2"},
                },
            ],
            "tool_use",
            usage(18, 30),
        ),
        [SIGNED],
    ),
    "lm-studio": (
        [
            message_start("qwen/qwen3-8b", 120),
            block_start(0, TEXT_SHELL),
            text(0, "Listing"),
            text(0, " files."),
            block_stop(0),
            block_start(1, {"type": "tool_use", "id": "toolu_7", "name": "Bash", "input": {}}),
            partial_json(1, ""),
            partial_json(1, '{"comm'),
            partial_json(1, 'and": "ls'),
            partial_json(1, ' -la"}'),
            block_stop(1),
            message_delta(
                {"stop_reason": "tool_use", "stop_sequence": None}, {"output_tokens": 17}
            ),
            MESSAGE_STOP,
        ],
        message(
            [
                {"type": "text", "text": "Listing files."},
                {
                    "type": "tool_use",
                    "id": "toolu_7",
                    "name": "Bash",
                    "input": {"command": "ls -la"},
                },
            ],
            "tool_use",
            usage(120, 17),
        ),
        [],
    ),
}
