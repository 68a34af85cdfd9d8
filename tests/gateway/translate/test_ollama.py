"""Ollama's /api/chat: the request it takes (from Ollama's docs/api.md) and its NDJSON answers
turned into chat-completions chunks that the one stream translator understands."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.translate.ollama import (
    NDJSONDecoder,
    OllamaChunkAdapter,
    num_ctx_for,
    openai_to_ollama_chat,
)
from gateway.translate.stream import StreamTranslator


@pytest.mark.parametrize(
    ("needed", "loaded", "maximum", "cap", "expected"),
    [
        (3000, 4096, 131072, None, 4096),  # the loaded size fits: no reload
        (5000, 4096, 131072, None, 8192),
        (20000, 4096, 131072, None, 32768),
        (20000, 4096, 16384, None, 16384),  # bounded by the model
        (70000, 4096, 131072, 65536, 65536),  # bounded by the user
        (100, None, None, None, 2048),
    ],
)
def test_num_ctx(
    needed: int, loaded: int | None, maximum: int | None, cap: int | None, expected: int
) -> None:
    assert num_ctx_for(needed, loaded=loaded, maximum=maximum, cap=cap) == expected


def test_request_mapping() -> None:
    body = {
        "model": "qwen3:8b",
        "stream": True,
        "max_tokens": 500,
        "temperature": 0.2,
        "stop": ["END"],
        "chat_template_kwargs": {"enable_thinking": False},
        "tools": [{"type": "function", "function": {"name": "Bash", "parameters": {}}}],
        "messages": [
            {"role": "system", "content": "sys"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "Bash", "arguments": '{"command":"ls"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "a.txt"},
        ],
    }
    out = openai_to_ollama_chat(body, num_ctx=32768)
    assert out["options"] == {
        "num_ctx": 32768,
        "temperature": 0.2,
        "stop": ["END"],
        "num_predict": 500,
    }
    assert out["think"] is False and out["stream"] is True and out["tools"] == body["tools"]
    assert out["messages"][1] == {"role": "user", "content": "look", "images": ["AAAA"]}
    assert out["messages"][2]["tool_calls"] == [
        {"function": {"name": "Bash", "arguments": {"command": "ls"}}}
    ]
    assert out["messages"][3] == {"role": "tool", "content": "a.txt", "tool_name": "Bash"}


def test_json_schema_becomes_format() -> None:
    body = {
        "model": "m",
        "messages": [],
        "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}},
    }
    assert openai_to_ollama_chat(body, num_ctx=4096)["format"] == {"type": "object"}


# An /api/chat stream as Ollama documents it: content pieces, thinking, a tool call, then done.
STREAM = [
    {
        "model": "q",
        "message": {"role": "assistant", "content": "", "thinking": "hmm"},
        "done": False,
    },
    {"model": "q", "message": {"role": "assistant", "content": "Let me"}, "done": False},
    {"model": "q", "message": {"role": "assistant", "content": " check."}, "done": False},
    {
        "model": "q",
        "message": {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "Bash", "arguments": {"command": "ls"}}}],
        },
        "done": False,
    },
    {
        "model": "q",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 120,
        "eval_count": 9,
    },
]


def test_stream_through_the_translator() -> None:
    raw = b"".join(orjson.dumps(o) + b"\n" for o in STREAM)
    decoder = NDJSONDecoder()
    adapter = OllamaChunkAdapter("chat-1")
    translator = StreamTranslator(message_id="msg_1", client_model="claude-sonnet-4-6")
    for i in range(0, len(raw), 7):  # split anywhere
        for line in decoder.feed(raw[i : i + 7]):
            translator.feed(adapter.convert(orjson.loads(line)))
    assert decoder.flush() == []
    translator.finish()
    message = translator.message()
    assert [b["type"] for b in message["content"]] == ["thinking", "text", "tool_use"]
    assert message["content"][1]["text"] == "Let me check."
    assert message["content"][2]["input"] == {"command": "ls"}
    assert message["stop_reason"] == "tool_use"
    assert message["usage"]["input_tokens"] == 120 and message["usage"]["output_tokens"] == 9


def test_length_and_error_and_non_streamed() -> None:
    adapter = OllamaChunkAdapter("c")
    done = adapter.convert({"message": {"content": "x"}, "done": True, "done_reason": "length"})
    assert done["choices"][0]["finish_reason"] == "length"
    assert adapter.convert({"error": "model not found"}) == {"error": "model not found"}
    response = OllamaChunkAdapter("c").response(
        {
            "message": {"role": "assistant", "content": "hi"},
            "done": True,
            "prompt_eval_count": 3,
            "eval_count": 1,
        }
    )
    assert response["choices"][0]["message"]["content"] == "hi"
    assert response["usage"] == {"prompt_tokens": 3, "completion_tokens": 1}


@pytest.mark.parametrize(
    ("extra", "think"),
    [
        ({"chat_template_kwargs": {"enable_thinking": True}, "reasoning_effort": "high"}, True),
        ({"chat_template_kwargs": {"enable_thinking": False}}, False),
        ({"reasoning_effort": "low"}, "low"),
    ],
)
def test_api_chat_think_is_a_switch_for_a_local_model(extra: dict[str, Any], think: Any) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}
    assert openai_to_ollama_chat(body, num_ctx=2048)["think"] == think
