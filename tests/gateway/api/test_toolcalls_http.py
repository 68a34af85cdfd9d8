"""Tool calls a model wrote as text (Hermes/Qwen `<tool_call>`…) reach the client as tool_use
blocks, through the translated protocol and the native one alike; text that only looks like a
call stays text."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.replies import Text
from tests.gateway.api.client import Gateway, Start, body, last_record, message_of, post, start_pair

BACKENDS: dict[str, tuple[str, dict[str, Any]]] = {
    "lmstudio-openai": ("lmstudio", {}),
    "llamacpp-openai": ("llamacpp", {}),
    "lmstudio-native": ("lmstudio", {"rest": "both"}),
    "llamacpp-native": ("llamacpp", {"messages_api": True}),
    "ollama-native": ("ollama", {"version": "0.33.0"}),
}
TOOLS = {
    "tools": [
        {"name": "Bash", "input_schema": {"type": "object"}},
        {"name": "Read", "input_schema": {"type": "object"}},
    ]
}
WRITTEN = (
    "Let me look.\n"
    '<tool_call>\n{"name": "Bash", "arguments": {"command": "ls -la", "description": "list"}}\n'
    "</tool_call>"
)
LOOKALIKE = (
    'Models write <tool_call>{"name": "Bash", "arguments": {"command": "ls"}}</tool_call> '
    "in their text.\n"
    '{"name": "Deploy", "arguments": {"target": "prod"}}\n'
    '{"status": "ok", "command": "ls"}'
)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_call_written_as_text_becomes_tool_use(
    backend: str, stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    flavour, options = BACKENDS[backend]
    fake, server, records = start_pair(fake_backend, gateway_server, flavour, fake=options)
    fake.script(Text(WRITTEN, chunks=7))
    message = message_of(post(server, body("list the files", stream=stream, **TOOLS)))
    blocks = message["content"]
    assert [b["type"] for b in blocks] == ["text", "tool_use"]
    assert blocks[0]["text"].strip() == "Let me look."
    assert blocks[1]["name"] == "Bash"
    assert blocks[1]["input"] == {"command": "ls -la", "description": "list"}
    assert blocks[1]["id"].startswith("toolu_")
    assert message["stop_reason"] == "tool_use"
    record = last_record(records)
    assert "tool call written as text repaired (<tool_call> format)" in record.changes
    assert record.stop_reason == "tool_use"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_text_that_only_looks_like_a_call_stays_text(
    backend: str, stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    flavour, options = BACKENDS[backend]
    fake, server, records = start_pair(fake_backend, gateway_server, flavour, fake=options)
    fake.script(Text(LOOKALIKE, chunks=9))
    message = message_of(post(server, body("explain", stream=stream, **TOOLS)))
    assert message["content"] == [{"type": "text", "text": LOOKALIKE}]
    assert message["stop_reason"] == "end_turn"
    assert not any("tool call" in c for c in last_record(records).changes)


def test_without_tools_nothing_is_read_as_a_call(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(fake_backend, gateway_server, "lmstudio")
    fake.script(Text(WRITTEN))
    message = message_of(post(server, body("hi", stream=True)))
    assert message["content"] == [{"type": "text", "text": WRITTEN}]
