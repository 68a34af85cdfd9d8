"""Chat-completion chunk sequences in the shapes llama.cpp, LM Studio and Ollama stream them.

Each backend wraps every delta in its own envelope (ids, fingerprints, `logprobs`, a role on
the first or on every delta, usage in a last chunk with `choices: []`); the builders below
reproduce those envelopes so the sequences read like the captured streams.
"""

from __future__ import annotations

from typing import Any

Chunk = dict[str, Any]


def llama_cpp(delta: dict[str, Any], finish: str | None = None) -> Chunk:
    return {
        "choices": [{"finish_reason": finish, "index": 0, "delta": delta}],
        "created": 1763712000,
        "id": "chatcmpl-Q2nX0sWmT3uY1bK7cD4eR9aZ5vL6hJ8p",
        "model": "gemma-3-270m",
        "system_fingerprint": "b6980-5c8b1a2f",
        "object": "chat.completion.chunk",
    }


def llama_cpp_usage(prompt: int, completion: int, cached: int = 0) -> Chunk:
    return {
        "choices": [],
        "created": 1763712000,
        "id": "chatcmpl-Q2nX0sWmT3uY1bK7cD4eR9aZ5vL6hJ8p",
        "model": "gemma-3-270m",
        "system_fingerprint": "b6980-5c8b1a2f",
        "object": "chat.completion.chunk",
        "usage": {
            "completion_tokens": completion,
            "prompt_tokens": prompt,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
        "timings": {
            "cache_n": cached,
            "prompt_n": prompt - cached,
            "prompt_ms": 40.1,
            "prompt_per_second": 698.2,
            "predicted_n": completion,
            "predicted_ms": 70.3,
            "predicted_per_second": 71.1,
        },
    }


def lm_studio(delta: dict[str, Any], finish: str | None = None) -> Chunk:
    return {
        "id": "chatcmpl-w3q8d7x1k2j5m9n0b4v6c",
        "object": "chat.completion.chunk",
        "created": 1763712100,
        "model": "qwen/qwen3-8b",
        "system_fingerprint": "qwen/qwen3-8b",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def lm_studio_usage(prompt: int, completion: int) -> Chunk:
    return {
        "id": "chatcmpl-w3q8d7x1k2j5m9n0b4v6c",
        "object": "chat.completion.chunk",
        "created": 1763712100,
        "model": "qwen/qwen3-8b",
        "system_fingerprint": "qwen/qwen3-8b",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def ollama(delta: dict[str, Any], finish: str | None = None) -> Chunk:
    # Ollama repeats the role on every delta.
    return {
        "id": "chatcmpl-512",
        "object": "chat.completion.chunk",
        "created": 1763712200,
        "model": "qwen3:4b",
        "system_fingerprint": "fp_ollama",
        "choices": [{"index": 0, "delta": {"role": "assistant", **delta}, "finish_reason": finish}],
    }


def ollama_usage(prompt: int, completion: int) -> Chunk:
    return {
        "id": "chatcmpl-512",
        "object": "chat.completion.chunk",
        "created": 1763712200,
        "model": "qwen3:4b",
        "system_fingerprint": "fp_ollama",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def _call(index: int, *, id: str | None = None, name: str | None = None, args: str = "") -> Any:
    call: dict[str, Any] = {"index": index}
    if id is not None:
        call["id"] = id
        call["type"] = "function"
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    function["arguments"] = args
    call["function"] = function
    return {"tool_calls": [call]}


TEXT_ONLY = [
    llama_cpp({"role": "assistant", "content": None}),
    llama_cpp({"content": "Hello"}),
    llama_cpp({"content": " there"}),
    llama_cpp({"content": "."}),
    llama_cpp({}, "stop"),
    llama_cpp_usage(412, 3),
]

TEXT_AND_TOOL = [
    llama_cpp({"role": "assistant", "content": None}),
    llama_cpp({"content": "Let me run"}),
    llama_cpp({"content": " that."}),
    llama_cpp(_call(0, id="Jm7rT2qXo0aYV3cN8bK1dF5u", name="Bash", args="")),
    llama_cpp(_call(0, args='{"command":')),
    llama_cpp(_call(0, args=' "echo hi"}')),
    llama_cpp({}, "tool_calls"),
    llama_cpp_usage(1200, 21),
]

PARALLEL_TOOLS = [
    lm_studio({"role": "assistant", "content": ""}),
    lm_studio(_call(0, id="584301827", name="Read", args="")),
    lm_studio(_call(0, args='{"file_path": "/tmp/a.txt"}')),
    lm_studio(_call(1, id="584301828", name="Read", args="")),
    lm_studio(_call(1, args='{"file_path": "/tmp/b.txt"}')),
    lm_studio({}, "tool_calls"),
    lm_studio_usage(2048, 40),
]

REASONING_THEN_TEXT = [
    llama_cpp({"role": "assistant", "content": None}),
    llama_cpp({"reasoning_content": "The user says hi."}),
    llama_cpp({"reasoning_content": " Reply briefly."}),
    llama_cpp({"content": "Hi!"}),
    llama_cpp({"content": " How can I help?"}),
    llama_cpp({}, "stop"),
    llama_cpp_usage(300, 17),
]

THINK_TAGS_SPLIT = [
    ollama({"content": "<th"}),
    ollama({"content": "ink>\nThe user"}),
    ollama({"content": " greets.</thi"}),
    ollama({"content": "nk>\n\nHi"}),
    ollama({"content": "!"}),
    ollama({"content": ""}, "stop"),
    ollama_usage(95, 12),
]

CACHED_USAGE = [
    llama_cpp({"role": "assistant", "content": None}),
    llama_cpp({"content": "Done."}),
    llama_cpp({}, "stop"),
    llama_cpp_usage(19458, 4, cached=19330),
]

_PIECES = [
    '{"',
    "comm",
    'and"',
    ": ",
    '"ls',
    " -la",
    " /t",
    "mp",
    '",',
    ' "desc',
    'ription"',
    ': "',
    "List",
    ' tmp"',
    "}",
]
ARGS_MANY_CHUNKS = [
    llama_cpp({"role": "assistant", "content": None}),
    llama_cpp(_call(0, id="Zq1wE2rT3yU4iO5pA6sD7fG8", name="Bash", args="")),
    *(llama_cpp(_call(0, args=piece)) for piece in _PIECES),
    llama_cpp({}, "tool_calls"),
    llama_cpp_usage(900, 30),
]

LENGTH = [
    llama_cpp({"role": "assistant", "content": None}),
    llama_cpp({"content": "Once upon"}),
    llama_cpp({"content": " a time"}),
    llama_cpp({}, "length"),
    llama_cpp_usage(50, 4),
]

OLLAMA_TOOL_THEN_STOP = [
    # Older Ollama sends the whole call in one delta and finishes with "stop".
    ollama(
        {
            "content": "",
            "tool_calls": [
                {
                    "id": "call_k3v9x2m1",
                    "index": 0,
                    "type": "function",
                    "function": {"name": "Bash", "arguments": '{"command":"pwd"}'},
                }
            ],
        }
    ),
    ollama({"content": ""}, "stop"),
    ollama_usage(700, 15),
]

OLLAMA_REASONING = [
    ollama({"content": "", "reasoning": "Short answer"}),
    ollama({"content": "", "reasoning": " is fine."}),
    ollama({"content": "Yes."}),
    ollama({"content": ""}, "stop"),
    ollama_usage(80, 9),
]

RECORDED: dict[str, list[Chunk]] = {
    "text_only": TEXT_ONLY,
    "text_and_tool": TEXT_AND_TOOL,
    "parallel_tools": PARALLEL_TOOLS,
    "reasoning_then_text": REASONING_THEN_TEXT,
    "think_tags_split": THINK_TAGS_SPLIT,
    "cached_usage": CACHED_USAGE,
    "args_many_chunks": ARGS_MANY_CHUNKS,
    "length": LENGTH,
    "ollama_tool_then_stop": OLLAMA_TOOL_THEN_STOP,
    "ollama_reasoning": OLLAMA_REASONING,
}
