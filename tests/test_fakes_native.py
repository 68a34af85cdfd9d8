"""The fakes' native endpoints answer as their servers do: /v1/messages per version and option,
each converter's stream shape (checked against the recorded streams the repair layer is tested
with), Ollama's /api/chat and its context rules, and gates that hold a reply."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from tests.fakes import FakeBackend, Gate, Held, Reasoning, Text, ToolCall, ToolCalls
from tests.gateway.repair.native import RECORDED
from tests.gateway.translate.grammar import parse_sse

Start = Callable[..., FakeBackend]
HELLO = [{"role": "user", "content": "hi"}]


def messages(backend: FakeBackend, stream: bool = False, **fields: Any) -> httpx.Response:
    payload = {"model": "fake-model", "max_tokens": 50, "messages": HELLO, "stream": stream}
    return httpx.post(f"{backend.root_url}/v1/messages", json={**payload, **fields}, timeout=10)


def shape(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[Any, ...]]:
    """What a converter decides: event, index and kind, repeated deltas counted once (pings are
    keep-alives: whether a recording caught one says nothing about the converter)."""
    out: list[tuple[Any, ...]] = []
    for name, data in events:
        if name == "ping":
            continue
        kind = (data.get("content_block") or data.get("delta") or {}).get("type")
        item = (name, data.get("index"), kind)
        if not out or out[-1] != item or name != "content_block_delta":
            out.append(item)
    return out


@pytest.mark.parametrize(
    ("flavour", "options", "served"),
    [
        ("lmstudio", {"rest": "v0"}, False),
        ("lmstudio", {"rest": "v1"}, True),
        ("ollama", {"version": "0.13.5"}, False),
        ("ollama", {"version": "0.14.0"}, True),
        ("llamacpp", {"messages_api": False}, False),
        ("llamacpp", {"messages_api": True}, True),
    ],
)
def test_messages_api_per_version(
    flavour: str, options: dict[str, Any], served: bool, fake_backend: Start
) -> None:
    backend = fake_backend(flavour, **options)
    response = messages(backend)
    assert (response.status_code == 200 and "content" in response.json()) is served
    assert (len(backend.chat_requests) == 1) is served


@pytest.mark.parametrize(
    ("recording", "flavour", "options", "reply"),
    [
        (
            "ollama-17101",
            "ollama",
            {"version": "0.20.0"},
            Reasoning(lead="---\n", reasoning="Short question.", text="Paris.", chunks=1),
        ),
        (
            "lm-studio",
            "lmstudio",
            {"rest": "both"},
            ToolCalls([ToolCall("Bash", {"command": "ls -la"})], text="Listing files.", chunks=3),
        ),
    ],
)
def test_streams_have_the_recorded_shape(
    recording: str, flavour: str, options: dict[str, Any], reply: Any, fake_backend: Start
) -> None:
    backend = fake_backend(flavour, **options)
    backend.script(reply)
    events = parse_sse(messages(backend, stream=True).content)
    assert shape(events) == shape(RECORDED[recording][0])


def test_llamacpp_leaves_blocks_open_until_the_end(fake_backend: Start) -> None:
    backend = fake_backend("llamacpp", messages_api=True)
    backend.script(Reasoning(reasoning="Need a tool.", text="Calling it."))
    events = parse_sse(messages(backend, stream=True).content)
    names = [(n, d.get("index")) for n, d in events]
    assert names[-5:] == [
        ("content_block_delta", 0),  # the empty signature
        ("content_block_stop", 0),
        ("content_block_stop", 1),
        ("message_delta", None),
        ("message_stop", None),
    ]
    assert set(events[-2][1]["usage"]) == {"output_tokens"}


def test_ollama_ignores_tool_choice_and_has_no_count_tokens(fake_backend: Start) -> None:
    backend = fake_backend("ollama", version="0.33.0")
    backend.script(Text("no tool for you"))
    forced: dict[str, Any] = {
        "tools": [{"name": "Bash", "input_schema": {}}],
        "tool_choice": {"type": "any"},
    }
    answer = messages(backend, **forced).json()
    assert answer["content"] == [{"type": "text", "text": "no tool for you"}]
    assert answer["stop_reason"] == "end_turn"
    counted = httpx.post(f"{backend.root_url}/v1/messages/count_tokens", json={"messages": HELLO})
    assert counted.status_code == 404 and counted.text == "404 page not found"


def test_ollama_truncates_silently_except_on_api_chat(fake_backend: Start) -> None:
    backend = fake_backend("ollama", version="0.33.0", context_length=50)
    long = [{"role": "user", "content": "lorem " * 200}]
    # num_ctx is ignored on the OpenAI and Anthropic endpoints: the prompt is cut to 50.
    native = messages(backend, messages=long, options={"num_ctx": 8192}).json()
    assert native["usage"]["input_tokens"] == 50
    openai = httpx.post(
        f"{backend.url}/chat/completions",
        json={"model": "fake-model", "messages": long, "options": {"num_ctx": 8192}},
    ).json()
    assert openai["usage"]["prompt_tokens"] == 50
    chat = {"model": "fake-model", "messages": long, "stream": False}
    cut = httpx.post(f"{backend.root_url}/api/chat", json=chat).json()
    assert cut["prompt_eval_count"] == 50
    whole = httpx.post(
        f"{backend.root_url}/api/chat", json={**chat, "options": {"num_ctx": 8192}}
    ).json()
    assert whole["prompt_eval_count"] > 50 and whole["done"] is True
    assert backend.asked_num_ctx == [None, 8192]


def test_api_chat_streams_ndjson(fake_backend: Start) -> None:
    backend = fake_backend("ollama")
    backend.script(
        ToolCalls([ToolCall("Bash", {"command": "ls"})], text="ok"),
        Text("cut", finish_reason="length"),
    )
    body = {"model": "fake-model", "messages": HELLO}  # /api/chat streams by default
    response = httpx.post(f"{backend.root_url}/api/chat", json=body)
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [orjson.loads(line) for line in response.text.splitlines()]
    assert "".join(line["message"]["content"] for line in lines) == "ok"
    (call,) = next(line for line in lines if "tool_calls" in line["message"])["message"][
        "tool_calls"
    ]
    assert call["function"] == {"index": 0, "name": "Bash", "arguments": {"command": "ls"}}
    assert [line["done"] for line in lines] == [False] * (len(lines) - 1) + [True]
    assert lines[-1]["done_reason"] == "stop" and lines[-1]["eval_count"] > 0
    short = httpx.post(f"{backend.root_url}/api/chat", json={**body, "stream": False}).json()
    assert short["done_reason"] == "length" and short["message"]["content"] == "cut"
    missing = httpx.post(f"{backend.root_url}/api/chat", json={**body, "model": "nope"})
    assert missing.status_code == 404 and "not found" in missing.json()["error"]


def test_overflow_on_messages_as_each_server_words_it(fake_backend: Start) -> None:
    long = [{"role": "user", "content": "lorem " * 200}]
    lmstudio = fake_backend("lmstudio", rest="both", context_length=50)
    refused = messages(lmstudio, messages=long)
    assert refused.status_code == 500
    error = refused.json()
    assert error["type"] == "error" and error["error"]["type"] == "api_error"
    assert "context length of only 50 tokens" in error["error"]["message"]
    llamacpp = fake_backend("llamacpp", messages_api=True, context_length=50)
    refused = messages(llamacpp, messages=long)
    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "exceed_context_size_error"


def test_a_held_reply_waits_for_its_gate(fake_backend: Start) -> None:
    backend = fake_backend("lmstudio", rest="both")
    gate = Gate()
    backend.script(Held(gate, Text("at last")), Text("meanwhile"))
    answers: dict[str, Any] = {}

    def ask(key: str) -> None:
        answers[key] = messages(backend).json()["content"][0]["text"]

    held = threading.Thread(target=ask, args=("held",))
    held.start()
    assert backend.wait_for_requests(1)
    ask("free")  # served while the first one is still held
    assert "held" not in answers and backend.max_in_flight == 2
    gate.open()
    held.join(timeout=10)
    assert answers == {"free": "meanwhile", "held": "at last"}
