"""`POST /v1/messages` end to end: the official SDK and raw httpx against a real uvicorn, with a
fake LM Studio / Ollama / llama.cpp behind it, asserting what reached the backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pytest
from anthropic.types import Base64ImageSourceParam

from gateway.events import EventBus
from gateway.runner import GatewayServer
from tests.fakes.replies import Reasoning, Text, Think, ToolCall, ToolCalls, Usage
from tests.fakes.server import FakeBackend
from tests.gateway.translate.grammar import accumulate, assert_valid_stream, parse_sse
from tests.paths import fixture_names, load_fixture, visible_tools
from tests.records import RecordSink

FLAVOURS = ["lmstudio", "ollama", "llamacpp"]
Start = Callable[..., FakeBackend]
Gateway = Callable[..., GatewayServer]


_clients: list[anthropic.Anthropic] = []


def sdk(server: GatewayServer) -> anthropic.Anthropic:
    client = anthropic.Anthropic(base_url=server.url, api_key="anything", max_retries=0)
    _clients.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def records(bus: EventBus) -> RecordSink:
    return RecordSink(bus)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_sdk_create_and_stream(flavour: str, fake_backend: Start, gateway_server: Gateway) -> None:
    fake = fake_backend(flavour)
    server = gateway_server(fake.url)
    client = sdk(server)
    message = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from the fake backend."
    assert message.model == "claude-sonnet-4-6" and message.stop_reason == "end_turn"
    assert message.id.startswith("msg_") and message.usage.output_tokens > 0

    fake.script(Reasoning(reasoning="Let me think.", text="Four."))
    with client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=64,
        messages=[{"role": "user", "content": "2+2?"}],
        thinking={"type": "enabled", "budget_tokens": 2048},
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "Let me think."  # type: ignore[union-attr]
    assert final.content[1].text == "Four."  # type: ignore[union-attr]
    sent = fake.chat_requests[-1].body
    # Ollama lists the model as "fake-model:latest"; the bare name reaches it.
    listed = "fake-model:latest" if flavour == "ollama" else "fake-model"
    assert sent["model"] == listed and sent["stream"] is True
    assert sent["chat_template_kwargs"] == {"enable_thinking": True}


def test_stream_grammar_with_think_tags_and_tool_calls(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    fake.script(
        Think(reasoning="plan the call", text="Running it.", chunks=7),
        ToolCalls(
            calls=[ToolCall("Bash", {"command": "ls"}), ToolCall("Read", {"file_path": "/a"})],
            text="Two calls.",
            chunks=4,
        ),
    )
    tools = [
        {"name": "Bash", "input_schema": {"type": "object"}},
        {"name": "Read", "input_schema": {"type": "object"}},
    ]
    body = {"model": "claude-sonnet-4-6", "max_tokens": 99, "stream": True, "tools": tools}
    body["messages"] = [{"role": "user", "content": "go"}]
    first = httpx.post(f"{server.url}/v1/messages?beta=true", json=body)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(first.content)
    assert_valid_stream(events)
    message = accumulate(events)
    assert [b["type"] for b in message["content"]] == ["thinking", "text"]
    assert message["content"][0]["thinking"] == "plan the call"
    assert message["content"][1]["text"] == "Running it."
    assert b"[DONE]" not in first.content

    second = httpx.post(f"{server.url}/v1/messages", json=body)
    events = parse_sse(second.content)
    assert_valid_stream(events)
    message = accumulate(events)
    kinds = [b["type"] for b in message["content"]]
    assert kinds == ["text", "tool_use", "tool_use"]
    assert message["content"][1]["name"] == "Bash"
    assert message["content"][1]["input"] == {"command": "ls"}
    assert message["content"][2]["input"] == {"file_path": "/a"}
    assert message["stop_reason"] == "tool_use"


def test_usage_reports_cached_tokens(fake_backend: Start, gateway_server: Gateway) -> None:
    fake = fake_backend("llamacpp")
    server = gateway_server(fake.url)
    usage = Usage(prompt_tokens=1000, completion_tokens=20, cached_tokens=900)
    fake.script(Text("a", usage=usage), Text("b", usage=usage))
    client = sdk(server)
    msgs: Any = [{"role": "user", "content": "x"}]
    once = client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=msgs)
    assert (once.usage.input_tokens, once.usage.cache_read_input_tokens) == (100, 900)
    assert once.usage.output_tokens == 20
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=10, messages=msgs) as s:
        final = s.get_final_message()
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens) == (100, 900)
    assert fake.chat_requests[-1].body["stream_options"] == {"include_usage": True}


def test_max_tokens_stop_reason(fake_backend: Start, gateway_server: Gateway) -> None:
    fake = fake_backend("ollama")
    server = gateway_server(fake.url)
    fake.script(Text("cut", finish_reason="length"))
    message = sdk(server).messages.create(
        model="claude-sonnet-4-6", max_tokens=3, messages=[{"role": "user", "content": "x"}]
    )
    assert message.stop_reason == "max_tokens"
    assert fake.chat_requests[-1].body["max_tokens"] == 3


def _send_fixture(server: GatewayServer, name: str) -> httpx.Response:
    fixture = load_fixture(name)
    headers = {
        k: v
        for k, v in fixture["headers"].items()
        if k.lower() not in ("host", "content-length", "authorization", "accept-encoding")
    }
    headers["authorization"] = "Bearer placeholder"
    path = "/v1/messages/count_tokens" if "count-tokens" in name else "/v1/messages"
    return httpx.post(
        f"{server.url}{path}?beta=true",
        content=orjson.dumps(fixture["body"]),
        headers=headers,
        timeout=10,
    )


@pytest.mark.parametrize("name", fixture_names())
def test_every_claude_code_fixture_passes_a_strict_backend(
    name: str, fake_backend: Start, gateway_server: Gateway
) -> None:
    """Each real Claude Code request, with its headers, through a backend that enforces Gemma's
    strict chat template: accepted, and the backend got a clean chat-completions request."""
    fake = fake_backend("llamacpp", strict_template=True, context_length=65536)
    bus = EventBus()
    seen = records(bus)
    # The captures were made with ANTHROPIC_MODEL=local-big-model (and the small one).
    aliases = {"local-big-model": "big", "local-small-model": "small"}
    server = gateway_server(fake.url, bus=bus, aliases=aliases)
    response = _send_fixture(server, name)
    assert response.status_code == 200, response.text
    body = load_fixture(name)["body"]
    if "count-tokens" in name:
        assert response.json()["input_tokens"] > 0
        assert fake.chat_requests == []
        return
    if body.get("stream"):
        events = parse_sse(response.content)
        assert_valid_stream(events)
    else:
        assert response.json()["type"] == "message"
    sent = fake.chat_requests[-1].body
    roles = [m["role"] for m in sent["messages"]]
    assert roles[0] == "system" and "system" not in roles[1:]
    assert "x-anthropic-billing-header" not in orjson.dumps(sent).decode()
    assert "user" not in sent and "metadata" not in sent
    if not body.get("tools"):
        assert "tools" not in sent and "tool_choice" not in sent
    else:
        params = [t["function"]["parameters"] for t in sent["tools"]]
        assert params == [t["input_schema"] for t in visible_tools(body)]
    if "title" in name:
        assert sent["response_format"]["type"] == "json_schema"
        assert sent["response_format"]["json_schema"]["schema"]["required"] == ["title"]
    if "roundtrip" in name:
        tool_messages = [m for m in sent["messages"] if m["role"] == "tool"]
        assert len(tool_messages) == 1
        assert tool_messages[0]["tool_call_id"] == "toolu_fake000000000000000001"
        assert tool_messages[0]["content"] == "hi"
        assistant = next(m for m in sent["messages"] if m.get("tool_calls"))
        said = next(m for m in body["messages"] if m["role"] == "assistant")["content"][0]
        assert assistant["content"] == said["text"]  # "Let me run that." / "Let me do that."
    (record,) = seen.wait()
    assert record.status == 200 and record.client_model == body["model"]
    assert record.session == "00000000-0000-4000-8000-000000000000"
    assert "billing header removed" in " ".join(record.changes)


def test_mid_conversation_system_message_reaches_the_user_turn(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio", strict_template=True)
    server = gateway_server(fake.url)
    sdk(server).messages.create(
        model="claude-sonnet-4-6",
        max_tokens=10,
        system="Be brief.",
        messages=[
            {"role": "user", "content": "hello"},
            {"role": "system", "content": "agents: none"},
        ],
    )
    sent = fake.chat_requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user"]
    assert sent[0]["content"] == "Be brief."
    assert "hello" in sent[1]["content"]
    assert "<system-reminder>" in sent[1]["content"] and "agents: none" in sent[1]["content"]


def test_images_reach_the_backend_as_image_url(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio", types={"fake-model": "vlm"})
    server = gateway_server(fake.url)
    image: Base64ImageSourceParam = {
        "type": "base64",
        "media_type": "image/png",
        "data": "iVBORw0KGgo=",
    }
    sdk(server).messages.create(
        model="claude-sonnet-4-6",
        max_tokens=10,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": image},
                    {"type": "text", "text": "what is this?"},
                ],
            }
        ],
    )
    parts = fake.chat_requests[-1].body["messages"][-1]["content"]
    assert parts[0] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
    }


def test_images_to_a_model_without_vision_become_a_note(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")  # an "llm", not a "vlm": LM Studio says it has no vision
    bus = EventBus()
    seen = records(bus)
    server = gateway_server(fake.url, bus=bus)
    image = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    result = {
        "type": "tool_result",
        "tool_use_id": "t1",
        "content": [{"type": "image", "source": image}],
    }
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 10,
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image", "source": image}, {"type": "text", "text": "x"}],
            },
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {}}],
            },
            {"role": "user", "content": [result]},
        ],
        "tools": [{"name": "Read", "input_schema": {"type": "object"}}],
    }
    assert httpx.post(f"{server.url}/v1/messages", json=body).status_code == 200
    sent = orjson.dumps(fake.chat_requests[-1].body).decode()
    assert "image_url" not in sent and "iVBORw0KGgo" not in sent
    assert "no vision" in sent
    assert any("vision" in w for w in seen.wait()[-1].warnings)


def test_web_search_request_gets_an_honest_text_answer(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": "Perform a web search for: lm gate"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 8}],
        "tool_choice": {"type": "tool", "name": "web_search"},
    }
    response = httpx.post(f"{server.url}/v1/messages", json=body)
    events = parse_sse(response.content)
    assert_valid_stream(events)
    text = accumulate(events)["content"][0]["text"]
    assert "not available" in text and "local model" in text
    assert fake.chat_requests == []


def test_unknown_fields_are_dropped_and_unknown_blocks_replaced(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    bus = EventBus()
    seen = records(bus)
    server = gateway_server(fake.url, bus=bus)
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 10,
        "some_future_field": {"x": 1},
        "context_management": {"edits": []},
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "document", "source": {"type": "text", "data": "pdf"}},
                    {"type": "text", "text": "summarise"},
                ],
            }
        ],
    }
    response = httpx.post(f"{server.url}/v1/messages", json=body)
    assert response.status_code == 200, response.text
    sent = fake.chat_requests[-1].body
    assert "some_future_field" not in sent and "context_management" not in sent
    assert "[document omitted]" in sent["messages"][-1]["content"]
    assert any("document" in w for w in seen.wait()[-1].warnings)


def test_records_carry_route_timing_and_tokens(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    bus = EventBus()
    seen = records(bus)
    server = gateway_server(fake.url, bus=bus, small="fake-small", capture_bodies=True)
    fake.script(Text("ok", usage=Usage(prompt_tokens=50, completion_tokens=2, cached_tokens=10)))
    with sdk(server).messages.stream(
        model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}]
    ) as stream:
        stream.get_final_message()
    (record,) = seen.wait()
    assert (record.client_model, record.backend, record.backend_model) == (
        "claude-haiku-4-5",
        "fake",
        "fake-small",
    )
    assert record.route_rule == "haiku" and record.stream and record.status == 200
    assert (record.input_tokens, record.output_tokens, record.cached_tokens) == (40, 2, 10)
    assert record.ttft_ms is not None and record.latency_ms >= record.ttft_ms
    assert record.request_body["messages"][0]["content"] == "x"
    assert record.response_body["content"][0]["text"] == "ok"
    # The SDK sends its key as a Bearer token; the record never holds it.
    assert record.extra["headers"]["authorization"] == "<redacted>"
