"""The native protocol (`anthropic`): the client's own Messages request passed through to a
server's /v1/messages, with only what must change changed, and the answer repaired into the
grammar Claude Code needs. Against fakes of LM Studio 0.4, Ollama 0.14+ and llama.cpp."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.config import BackendConfig
from gateway.events import EventBus
from gateway.tokens import count_tokens
from gateway.translate.conversation import BILLING_PREFIX
from tests.fakes.replies import DEFAULT_TEXT, Error, Reasoning, Text, ToolCall, ToolCalls
from tests.gateway.api.client import (
    NATIVE,
    Gateway,
    Start,
    body,
    last_record,
    message_of,
    post,
    start_pair,
)
from tests.gateway.translate.grammar import assert_valid_stream, parse_sse
from tests.paths import fixture_names, load_fixture
from tests.records import RecordSink

BILLING = f"{BILLING_PREFIX} cc_version=2.1.197.c40; cc_entrypoint=cli;"
CLIENT_HEADERS = {
    "x-api-key": "sk-ant-client-secret",
    "authorization": "Bearer client-oauth-token",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14",
}
BASH = {"name": "Bash", "input_schema": {"type": "object", "properties": {"command": {}}}}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("flavour", NATIVE)
def test_passthrough_changes_only_what_it_must(
    flavour: str, stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(fake_backend, gateway_server, flavour, fake=NATIVE[flavour])
    system = [
        {"type": "text", "text": BILLING},
        {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
    ]
    payload = body(
        stream=stream,
        system=system,
        metadata={"user_id": "user_device_1234_account_5678"},
        temperature=0.2,
        stop_sequences=["\n\nHuman:"],
    )
    answer = message_of(post(server, payload, headers=CLIENT_HEADERS))
    assert answer["content"] == [{"type": "text", "text": DEFAULT_TEXT}]
    assert answer["model"] == "claude-sonnet-4-6" and answer["stop_reason"] == "end_turn"

    (sent,) = fake.requests_to("/v1/messages")
    assert sent.body["model"] == ("fake-model:latest" if flavour == "ollama" else "fake-model")
    assert sent.body["system"] == system[1:]
    assert "metadata" not in sent.body
    assert sent.body["stream"] is stream
    assert sent.body["messages"] == payload["messages"]
    assert (sent.body["temperature"], sent.body["stop_sequences"]) == (0.2, ["\n\nHuman:"])
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["anthropic-beta"] == CLIENT_HEADERS["anthropic-beta"]
    # The client's credentials are for the gateway, never for the backend.
    assert "x-api-key" not in sent.headers and "authorization" not in sent.headers
    assert "client" not in orjson.dumps(sent.headers).decode()

    record = last_record(records)
    assert record.extra["protocol"] == "anthropic" and record.status == 200
    assert {"billing header removed", "metadata dropped"} <= set(record.changes)


@pytest.mark.parametrize("flavour", NATIVE)
def test_tool_calls_and_reasoning_come_back_whole(
    flavour: str, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(fake_backend, gateway_server, flavour, fake=NATIVE[flavour])
    call = ToolCall("Bash", {"command": "ls -la", "description": "list"})
    fake.script(
        ToolCalls([call], text="Listing.", chunks=4),
        Reasoning(reasoning="The user wants files.", text="Done.", chunks=3),
    )
    tools = {"tools": [BASH]}
    first = message_of(post(server, body("ls", stream=True, **tools)))
    assert [b["type"] for b in first["content"]] == ["text", "tool_use"]
    assert first["content"][1]["input"] == {"command": "ls -la", "description": "list"}
    assert first["stop_reason"] == "tool_use"
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    second = message_of(post(server, body("and?", stream=True, **tools, **thinking)))
    assert [b["type"] for b in second["content"]] == ["thinking", "text"]
    assert second["content"][0]["thinking"] == "The user wants files."
    assert second["content"][0]["signature"]  # the gateway signs what the backend did not
    assert second["content"][1]["text"] == "Done."
    assert second["usage"]["output_tokens"] > 0
    assert [r.extra["protocol"] for r in records.wait(2)] == ["anthropic", "anthropic"]


@pytest.mark.parametrize("flavour", NATIVE)
@pytest.mark.parametrize("name", fixture_names())
def test_every_claude_code_fixture_through_a_native_backend(
    name: str, flavour: str, fake_backend: Start, gateway_server: Gateway
) -> None:
    """Each real Claude Code request, with its headers, through the native path: accepted, the
    backend got the request with only the model, billing block and metadata changed."""
    aliases = {"local-big-model": "big", "local-small-model": "small"}
    fake, server, records = start_pair(
        fake_backend,
        gateway_server,
        flavour,
        # Loaded with room for 2.1.332's max_tokens (128,000): a smaller Ollama window sends the
        # request to /api/chat instead (tested on its own), and this test is the native path.
        fake={**NATIVE[flavour], "context_length": 262144},
        aliases=aliases,
    )
    fixture = load_fixture(name)
    headers = {
        k: v
        for k, v in fixture["headers"].items()
        if k.lower() not in ("host", "content-length", "authorization", "accept-encoding")
    }
    headers["authorization"] = "Bearer placeholder"
    count = "count-tokens" in name
    path = "/v1/messages/count_tokens" if count else "/v1/messages"
    response = post(server, fixture["body"], path=path + "?beta=true", headers=headers)
    assert response.status_code == 200, response.text
    record = last_record(records)
    if count:
        assert response.json()["input_tokens"] > 0
        assert fake.chat_requests == []
        return
    message_of(response)
    (sent,) = fake.requests_to("/v1/messages")
    original = fixture["body"]
    assert sent.body["model"] == ("fake-model:latest" if flavour == "ollama" else "fake-model")
    assert "metadata" not in sent.body and BILLING_PREFIX not in orjson.dumps(sent.body).decode()
    assert sent.body["messages"] == original["messages"]
    assert sent.body.get("tools") == original.get("tools")
    # Auto mode's review is the gateway's to answer: neither the field nor its beta goes on.
    assert "safeguards" not in sent.body
    betas = [b.strip() for b in fixture["headers"].get("anthropic-beta", "").split(",")]
    forwarded = ",".join(b for b in betas if b and b != "dangerous-tool-use-2026-09-03")
    assert (sent.headers.get("anthropic-beta") or "").replace(" ", "") == forwarded
    assert "authorization" not in sent.headers
    assert record.extra["protocol"] == "anthropic" and record.status == 200


@pytest.mark.parametrize("version", ["0.20.0", "0.32.2"])
def test_ollama_reused_block_index_is_repaired(
    version: str, fake_backend: Start, gateway_server: Gateway
) -> None:
    """ollama#17101: before 0.32.2 a text block followed by thinking shares its index with it
    and the answer streams at an index never started. The client's stream is valid and nothing
    is lost; the record says what was repaired (and nothing is, once the bug is fixed)."""
    fake = fake_backend("ollama", version=version)
    # The protocol table sends these versions to /api/chat; the user chose the native API.
    native = BackendConfig(id="fake", url=fake.url, protocol="anthropic")
    bus = EventBus()
    records = RecordSink(bus)
    server = gateway_server(fake.url, bus=bus, backends=[native], big="fake-model:latest")
    fake.script(Reasoning(lead="---\n", reasoning="Short question.", text="Paris.", chunks=2))
    response = post(server, body("capital of France?", stream=True))
    events = parse_sse(response.content)
    assert_valid_stream(events)
    indexes = [d["index"] for n, d in events if n == "content_block_start"]
    assert indexes == [0, 1, 2]
    message = message_of(response)
    assert message["content"][0] == {"type": "text", "text": "---\n"}
    assert message["content"][1]["thinking"] == "Short question."
    assert message["content"][2] == {"type": "text", "text": "Paris."}
    repaired = "a block started at an index still open; the open block was closed first"
    record = last_record(records)
    assert (repaired in record.changes) is (version == "0.20.0")
    assert ("a delta for a block never started; a block was opened for it" in record.changes) is (
        version == "0.20.0"
    )


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_lm_studio_overflow_500_becomes_prompt_is_too_long(
    stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    """LM Studio answers a prompt longer than the loaded context with HTTP 500 api_error, which
    Claude Code would retry for minutes; the client gets the 400 it compacts on."""
    fake, server, records = start_pair(
        fake_backend, gateway_server, "lmstudio", fake={"rest": "both", "context_length": 4096}
    )
    # Short words: the gateway's BPE count (~3000) is within the window, the backend's own
    # count (~4500) is not, as happens with a model whose tokenizer splits finer.
    prompt = "lorem " * 3000
    response = post(server, body(prompt, stream=stream, max_tokens=100))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("prompt is too long: ")
    assert error["message"].endswith(" tokens > 4096 maximum")
    assert response.headers["x-should-retry"] == "false"
    assert len(fake.requests_to("/v1/messages")) == 1
    assert last_record(records).status == 400


def test_images_to_a_model_without_vision_become_a_note(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(
        fake_backend, gateway_server, "lmstudio", fake=NATIVE["lmstudio"]
    )
    image = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    content = [{"type": "image", "source": image}, {"type": "text", "text": "what is it?"}]
    payload = body()
    payload["messages"] = [{"role": "user", "content": content}]
    message_of(post(server, payload))
    sent = fake.requests_to("/v1/messages")[0].body["messages"][0]["content"]
    assert sent[0]["type"] == "text" and "no vision" in sent[0]["text"]
    assert sent[1] == content[1]
    record = last_record(records)
    assert "1 image(s) replaced by a note" in record.changes
    assert any("no vision" in w for w in record.warnings)


# --- tool_choice, which Ollama ignores -------------------------------------------------------

INSTRUCTION = "You must answer by calling the tool `Bash` now."
FORCED: dict[str, Any] = {"tools": [BASH], "tool_choice": {"type": "tool", "name": "Bash"}}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_ollama_tool_choice_is_asked_for_in_words(
    stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(
        fake_backend, gateway_server, "ollama", fake=NATIVE["ollama"]
    )
    fake.script(ToolCalls([ToolCall("Bash", {"command": "pwd"})]))
    message = message_of(post(server, body("where am I?", stream=stream, **FORCED)))
    assert [b["type"] for b in message["content"]] == ["tool_use"]
    assert message["content"][0]["input"] == {"command": "pwd"}
    assert message["stop_reason"] == "tool_use"
    (sent,) = fake.requests_to("/v1/messages")
    # Asked without streaming, so that the answer can be checked before the client sees it.
    assert sent.body["stream"] is False
    assert sent.body["messages"][-1]["content"] == f"where am I?\n\n{INSTRUCTION}"
    record = last_record(records)
    assert "tool_choice tool emulated with an instruction" in record.changes
    assert record.warnings == ()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_ollama_tool_choice_asks_once_more_then_warns(
    stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(
        fake_backend, gateway_server, "ollama", fake=NATIVE["ollama"]
    )
    fake.script(Text("I would rather not."), ToolCalls([ToolCall("Bash", {"command": "ls"})]))
    message = message_of(post(server, body("list", stream=stream, **FORCED)))
    assert message["content"][-1]["name"] == "Bash"
    assert len(fake.requests_to("/v1/messages")) == 2
    assert "asked again: the model did not call the required tool" in last_record(records).changes

    fake.script(Text("No."), Text("Still no."))
    message = message_of(post(server, body("list", stream=stream, **FORCED)))
    assert message["content"] == [{"type": "text", "text": "Still no."}]
    assert message["stop_reason"] == "end_turn"
    assert len(fake.requests_to("/v1/messages")) == 4
    record = last_record(records, 2)
    (warning,) = record.warnings
    assert warning.startswith("tool_choice not honoured: the model did not call ")


def test_ollama_tool_choice_warning_names_the_tool(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(
        fake_backend, gateway_server, "ollama", fake=NATIVE["ollama"]
    )
    fake.script(Text("No."), Text("Still no."))
    message_of(post(server, body("list", **FORCED)))
    (warning,) = last_record(records).warnings
    # The tool, not the instruction the model was sent ("…did not call You must answer…").
    assert warning == "tool_choice not honoured: the model did not call `Bash`"


def test_tool_choice_is_left_to_backends_that_honour_it(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(
        fake_backend, gateway_server, "llamacpp", fake=NATIVE["llamacpp"]
    )
    fake.script(ToolCalls([ToolCall("Bash", {"command": "ls"})]))
    message_of(post(server, body("list", stream=True, **FORCED)))
    (sent,) = fake.requests_to("/v1/messages")
    assert sent.body["tool_choice"] == FORCED["tool_choice"] and sent.body["stream"] is True
    assert sent.body["messages"][-1]["content"] == "list"


# --- count_tokens ----------------------------------------------------------------------------


def test_count_tokens_by_the_backend_where_it_can(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(
        fake_backend, gateway_server, "llamacpp", fake=NATIVE["llamacpp"]
    )
    payload = {
        "model": "claude-sonnet-4-6",
        "system": [{"type": "text", "text": BILLING}, {"type": "text", "text": "Be brief."}],
        "messages": [{"role": "user", "content": "count me " * 50}],
        "tools": [BASH],
    }
    response = post(server, payload, path="/v1/messages/count_tokens")
    assert response.status_code == 200, response.text
    asked = fake.requests_to("/v1/messages/count_tokens")[-1].body
    assert asked["model"] == "fake-model"
    assert asked["system"] == [{"type": "text", "text": "Be brief."}]
    expected = len(orjson.dumps({k: asked.get(k) for k in ("system", "messages", "tools")})) // 4
    assert response.json() == {"input_tokens": expected}
    record = last_record(records)
    assert record.extra["counter"] == "backend" and record.input_tokens == expected


def test_count_tokens_here_when_the_backend_has_no_endpoint(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    """Ollama's Anthropic API has no count_tokens (a 404): it is not even asked."""
    fake, server, records = start_pair(
        fake_backend, gateway_server, "ollama", fake=NATIVE["ollama"]
    )
    payload = {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi " * 40}]}
    response = post(server, payload, path="/v1/messages/count_tokens")
    assert response.status_code == 200, response.text
    assert response.json() == {"input_tokens": count_tokens(payload)}  # type: ignore[arg-type]
    assert fake.requests_to("/v1/messages/count_tokens") == []
    assert last_record(records).extra["counter"] == "bpe"


def test_a_model_still_loading_is_waited_for(fake_backend: Start, gateway_server: Gateway) -> None:
    """llama-server answers 503 "Loading model" while it loads the weights: the gateway waits
    (within the first-byte timeout) instead of failing the request."""
    fake, server, records = start_pair(
        fake_backend, gateway_server, "llamacpp", fake=NATIVE["llamacpp"]
    )
    loading = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
    fake.script(Error(503, loading))
    message = message_of(post(server, body(stream=True)))
    assert message["content"] == [{"type": "text", "text": DEFAULT_TEXT}]
    assert len(fake.requests_to("/v1/messages")) == 2
    assert last_record(records).status == 200


# --- a whole answer needs no stream decoder ----------------------------------------------------


@pytest.mark.parametrize(
    ("flavour", "stream", "extra"),
    [
        *((flavour, False, {}) for flavour in NATIVE),
        ("ollama", True, FORCED),  # asked whole to check the tool call, streamed to the client
    ],
)
def test_a_native_answer_fetched_whole_builds_no_openai_translator(
    flavour: str,
    stream: bool,
    extra: dict[str, Any],
    fake_backend: Start,
    gateway_server: Gateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[str] = []

    def translator(*args: Any, **kwargs: Any) -> Any:
        built.append("StreamTranslator")
        raise AssertionError("a chat-completions translator for a native answer")

    # Both chat protocols build theirs through openai_chat.chat_translator.
    monkeypatch.setattr("gateway.upstream.openai_chat.StreamTranslator", translator)
    fake, server, records = start_pair(fake_backend, gateway_server, flavour, fake=NATIVE[flavour])
    fake.script(ToolCalls([ToolCall("Bash", {"command": "pwd"})]))
    message = message_of(post(server, body("where am I?", stream=stream, **extra)))
    assert message["content"][-1]["input"] == {"command": "pwd"}
    (sent,) = fake.requests_to("/v1/messages")
    assert sent.body["stream"] is False
    record = last_record(records)
    assert record.extra["protocol"] == "anthropic" and record.status == 200
    assert built == []
