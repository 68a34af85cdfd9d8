"""Ollama's own /api/chat: the protocol for Ollama 0.3 to 0.32.1, and for any Ollama whose loaded
context is too small for a request, since only /api/chat takes `options.num_ctx` (its OpenAI and
Anthropic endpoints ignore it and silently drop what does not fit)."""

from __future__ import annotations

import pytest

from tests.fakes.flavour import estimate_tokens
from tests.fakes.replies import DEFAULT_TEXT, Reasoning, Text, ToolCall, ToolCalls, Usage
from tests.gateway.api.client import Gateway, Start, body, last_record, message_of, post, start_pair

# The gateway's BPE count of "lorem " * n is n + 6: 20,006 tokens here, against Ollama's default
# of 4,096 loaded.
LONG = "lorem " * 20000


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("version", ["0.2.8", "0.33.0"], ids=["openai", "anthropic"])
def test_a_request_beyond_the_loaded_context_goes_to_api_chat(
    version: str, stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(
        fake_backend, gateway_server, "ollama", fake={"version": version}
    )
    message = message_of(post(server, body(LONG, stream=stream, max_tokens=4000)))
    assert message["content"] == [{"type": "text", "text": DEFAULT_TEXT}]
    assert message["model"] == "claude-sonnet-4-6" and message["stop_reason"] == "end_turn"

    # 20,006 + 4,000 tokens do not fit the 4,096 loaded: the model gets its whole 131,072,
    # chosen once for every later request (gateway/backends/ollama_context.py).
    assert fake.asked_num_ctx == [131072]
    (sent,) = fake.chat_requests
    assert sent.path == "/api/chat"
    assert sent.body["model"] == "fake-model:latest"
    assert sent.body["stream"] is stream
    assert sent.body["options"]["num_predict"] == 4000
    assert sent.body["messages"][-1] == {"role": "user", "content": LONG}
    # Ollama's own count (prompt_eval_count) is what the client is told.
    assert message["usage"]["input_tokens"] == estimate_tokens(sent.body, "messages", "tools")
    record = last_record(records)
    assert record.extra["protocol"] == "ollama" and record.status == 200
    switched = [c for c in record.changes if c.startswith("sent through Ollama's /api/chat")]
    assert switched == [
        "sent through Ollama's /api/chat with num_ctx 131072, as every request to this "
        "model: another context (or none) reloads it"
    ]


@pytest.mark.parametrize(
    ("version", "path", "protocol"),
    [("0.2.8", "/v1/chat/completions", "openai"), ("0.33.0", "/v1/messages", "anthropic")],
)
def test_a_request_that_fits_stays_on_the_usual_protocol(
    version: str, path: str, protocol: str, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(
        fake_backend, gateway_server, "ollama", fake={"version": version}
    )
    message_of(post(server, body("hi", stream=True, max_tokens=1000)))
    assert [r.path for r in fake.chat_requests] == [path]
    assert fake.asked_num_ctx == []
    record = last_record(records)
    assert record.extra["protocol"] == protocol
    assert not any("/api/chat" in c for c in record.changes)


def test_older_ollama_speaks_api_chat_with_the_loaded_context(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    """Before 0.32.2 its /v1/messages can reuse block indexes, so /api/chat it is: thinking and
    tool calls come back from NDJSON as a valid Anthropic stream."""
    fake, server, records = start_pair(
        fake_backend, gateway_server, "ollama", fake={"version": "0.20.0"}
    )
    fake.script(
        Reasoning(reasoning="Need the listing.", text="Listing.", chunks=3),
        ToolCalls([ToolCall("Bash", {"command": "ls"}), ToolCall("Read", {"file_path": "a"})]),
    )
    thinking = {"type": "enabled", "budget_tokens": 1024}
    first = message_of(post(server, body("think", stream=True, thinking=thinking)))
    assert [b["type"] for b in first["content"]] == ["thinking", "text"]
    assert first["content"][0]["thinking"] == "Need the listing."
    tools = [
        {"name": "Bash", "input_schema": {"type": "object"}},
        {"name": "Read", "input_schema": {"type": "object"}},
    ]
    second = message_of(post(server, body("go", stream=True, tools=tools)))
    assert [(b["type"], b.get("name")) for b in second["content"]] == [
        ("tool_use", "Bash"),
        ("tool_use", "Read"),
    ]
    assert second["content"][1]["input"] == {"file_path": "a"}
    assert second["stop_reason"] == "tool_use"
    # The loaded context is enough: asking for another would make Ollama reload the model.
    assert fake.asked_num_ctx == [4096, 4096]
    assert fake.requests_to("/api/chat")[0].body["think"] is True
    assert [r.extra["protocol"] for r in records.wait(2)] == ["ollama", "ollama"]


def test_num_ctx_stays_within_the_models_maximum(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(fake_backend, gateway_server, "ollama")
    huge = "lorem " * 131000  # 131,006 tokens: the model's whole 131,072 and no more
    message_of(post(server, body(huge, max_tokens=32000)))
    assert fake.asked_num_ctx == [131072]
    sent = fake.requests_to("/api/chat")[0].body
    assert sent["options"]["num_predict"] < 32000
    record = last_record(records)
    assert any(c.startswith("max_tokens capped from 32000 to ") for c in record.changes)


def test_bare_model_name_finds_the_tagged_model(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    """Ollama serves `qwen3` as `qwen3:latest`; a model configured without its tag must still
    get the catalogue's context window, or a long prompt is silently truncated."""
    fake, server, records = start_pair(
        fake_backend, gateway_server, "ollama", fake={"version": "0.33.0"}, big="fake-model"
    )
    message_of(post(server, body(LONG, max_tokens=4000)))
    assert fake.asked_num_ctx == [131072]
    assert last_record(records).extra["protocol"] == "ollama"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_ollamas_cached_prompt_tokens_reach_the_client_and_the_record(
    stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    """Newer Ollama says how much of the prompt came from its cache (`prompt_eval_cached_count`,
    within `prompt_eval_count`); Anthropic counts it apart from `input_tokens`."""
    fake, server, records = start_pair(
        fake_backend, gateway_server, "ollama", fake={"version": "0.33.0"}
    )
    usage = Usage(prompt_tokens=24_000, completion_tokens=7, cached_tokens=23_950)
    fake.script(Text("ok", usage=usage))
    message = message_of(post(server, body(LONG, stream=stream, max_tokens=4000)))
    assert fake.chat_requests[0].path == "/api/chat"
    assert message["usage"]["input_tokens"] == 50
    assert message["usage"]["cache_read_input_tokens"] == 23_950
    assert last_record(records).cached_tokens == 23_950
