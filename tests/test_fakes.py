"""The fake backends answer with their server's documented shapes and misbehave on cue."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from tests.fakes import (
    ALTERNATION_ERROR,
    DEFAULT_TEXT,
    CutAfter,
    Error,
    FakeBackend,
    HeadersThenSilence,
    MalformedJSON,
    MalformedSSE,
    Reasoning,
    SilenceAfter,
    Stall,
    Text,
    Think,
    ToolCall,
    ToolCalls,
    Usage,
    context_length_exceeded,
)

Start = Callable[..., FakeBackend]
FLAVOURS = ["lmstudio", "ollama", "llamacpp"]
HELLO = [{"role": "user", "content": "hi"}]


def chat(backend: FakeBackend, stream: bool = True, **fields: Any) -> httpx.Response:
    body = {"model": "fake-model", "messages": HELLO, "stream": stream, **fields}
    return httpx.post(f"{backend.url}/chat/completions", json=body, timeout=10)


def events(response: httpx.Response) -> list[Any]:
    """The data of each SSE event; `[DONE]` stays a string."""
    frames = [f for f in response.text.split("\n\n") if f]
    assert all(f.startswith("data: ") for f in frames), frames
    return [f[6:] if f == "data: [DONE]" else orjson.loads(f[6:]) for f in frames]


def streamed_text(chunks: list[Any], field: str = "content") -> str:
    return "".join(c["choices"][0]["delta"].get(field) or "" for c in chunks[:-1] if c["choices"])


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_stream_ends_with_done_and_carries_the_text(fake_backend: Start, flavour: str) -> None:
    backend = fake_backend(flavour)
    response = chat(backend)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = events(response)
    assert chunks[-1] == "[DONE]"
    assert streamed_text(chunks) == DEFAULT_TEXT
    finishes = [c["choices"][0]["finish_reason"] for c in chunks[:-1] if c["choices"]]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert {c["object"] for c in chunks[:-1]} == {"chat.completion.chunk"}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_non_streamed_request_gets_one_completion(fake_backend: Start, flavour: str) -> None:
    backend = fake_backend(flavour)
    backend.script(Reasoning("Thinking it over.", "Done."))
    body = chat(backend, stream=False).json()
    assert body["object"] == "chat.completion"
    message = body["choices"][0]["message"]
    assert message["content"] == "Done."
    assert message[backend.flavour.reasoning_field] == "Thinking it over."
    assert body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_parallel_tool_calls_reassemble(fake_backend: Start, flavour: str) -> None:
    backend = fake_backend(flavour)
    calls = [ToolCall("Bash", {"command": "echo hi"}, id="call_1"), ToolCall("Read", {"p": 1})]
    backend.script(ToolCalls(calls, chunks=4))
    chunks = events(chat(backend))
    assembled: dict[int, dict[str, str]] = {}
    for chunk in chunks[:-1]:
        for call in chunk["choices"][0]["delta"].get("tool_calls", []) if chunk["choices"] else []:
            slot = assembled.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
            slot["id"] += call.get("id", "")
            slot["name"] += call.get("function", {}).get("name", "")
            slot["arguments"] += call.get("function", {}).get("arguments", "")
    assert assembled[0] == {"id": "call_1", "name": "Bash", "arguments": '{"command":"echo hi"}'}
    assert assembled[1]["name"] == "Read" and orjson.loads(assembled[1]["arguments"]) == {"p": 1}
    assert assembled[1]["id"]
    assert [c for c in chunks[:-1] if c["choices"]][-1]["choices"][0]["finish_reason"] == (
        "tool_calls"
    )


def test_think_tags_and_overrides_pass_through(fake_backend: Start) -> None:
    backend = fake_backend("lmstudio")
    usage = Usage(prompt_tokens=900, completion_tokens=7, cached_tokens=800)
    backend.script(Think("hmm", "Yes.", chunks=5, finish_reason="length", usage=usage))
    chunks = events(chat(backend, stream_options={"include_usage": True}))
    assert streamed_text(chunks) == "<think>hmm</think>Yes."
    assert chunks[-3]["choices"][0]["finish_reason"] == "length"
    assert chunks[-2]["choices"] == []
    assert chunks[-2]["usage"]["prompt_tokens_details"] == {"cached_tokens": 800}


def test_lmstudio_endpoints(fake_backend: Start) -> None:
    backend = fake_backend("lmstudio", models=["qwen2.5-7b", "llama-3.2-1b"], context_length=16384)
    models = httpx.get(f"{backend.url}/models").json()
    assert [m["id"] for m in models["data"]] == ["qwen2.5-7b", "llama-3.2-1b"]
    rest = httpx.get(f"{backend.root_url}/api/v0/models").json()["data"]
    assert rest[0]["state"] == "loaded" and rest[0]["loaded_context_length"] == 16384
    assert rest[0]["type"] == "llm" and "tool_use" in rest[0]["capabilities"]
    assert rest[1]["state"] == "not-loaded" and "loaded_context_length" not in rest[1]
    assert rest[1]["max_context_length"] >= 16384
    unknown = httpx.post(f"{backend.root_url}/chat/completions", json={})
    assert unknown.status_code == 200
    assert unknown.json() == {"error": "Unexpected endpoint or method. (POST /chat/completions)"}
    completion = chat(backend, stream=False, model="qwen2.5-7b").json()
    assert completion["system_fingerprint"] == "qwen2.5-7b"
    assert completion["choices"][0]["logprobs"] is None


def test_lmstudio_overflow_is_a_500_with_its_own_words(fake_backend: Start) -> None:
    backend = fake_backend("lmstudio", context_length=5)
    response = chat(backend)
    assert response.status_code == 500
    assert "context length of only 5 tokens" in response.json()["error"]
    assert backend.pending_replies == 0


def test_ollama_endpoints(fake_backend: Start) -> None:
    backend = fake_backend("ollama", models=["qwen2.5:0.5b"])
    assert httpx.get(backend.root_url).text == "Ollama is running"
    assert httpx.get(f"{backend.root_url}/api/version").json()["version"]
    assert httpx.get(f"{backend.root_url}/api/tags").json()["models"][0]["name"] == "qwen2.5:0.5b"
    running = httpx.get(f"{backend.root_url}/api/ps").json()["models"][0]
    assert running["context_length"] == 4096
    shown = httpx.post(f"{backend.root_url}/api/show", json={"model": "qwen2.5:0.5b"}).json()
    assert "tools" in shown["capabilities"] and shown["model_info"]["qwen2.context_length"]
    assert httpx.get(f"{backend.root_url}/api/nope").status_code == 404
    missing = chat(backend)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"].startswith('model "fake-model" not found')


def test_ollama_sends_usage_only_when_asked(fake_backend: Start) -> None:
    backend = fake_backend("ollama")
    body = {"model": "fake-model", "messages": HELLO, "stream": True}
    plain = events(httpx.post(f"{backend.url}/chat/completions", json=body))
    assert all("usage" not in c for c in plain[:-1])
    assert {c["system_fingerprint"] for c in plain[:-1]} == {"fp_ollama"}
    body["stream_options"] = {"include_usage": True}
    asked = events(httpx.post(f"{backend.url}/chat/completions", json=body))
    assert asked[-2]["choices"] == [] and asked[-2]["usage"]["completion_tokens"] > 0


def test_ollama_truncates_silently(fake_backend: Start) -> None:
    backend = fake_backend("ollama", context_length=3)
    body = {"model": "fake-model", "messages": HELLO * 20}
    answer = httpx.post(f"{backend.url}/chat/completions", json=body).json()
    assert answer["usage"]["prompt_tokens"] == 3


def test_llamacpp_endpoints_and_timings(fake_backend: Start) -> None:
    backend = fake_backend("llamacpp", context_length=2048)
    assert httpx.get(f"{backend.root_url}/health").json() == {"status": "ok"}
    props = httpx.get(f"{backend.root_url}/props").json()
    assert props["total_slots"] == 1 and props["default_generation_settings"]["n_ctx"] == 2048
    assert len(httpx.get(f"{backend.url}/models").json()["data"]) == 1
    final = events(chat(backend))[-2]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["usage"]["completion_tokens"] == final["timings"]["predicted_n"]


def test_llamacpp_overflow_is_a_400_exceed_context_size_error(fake_backend: Start) -> None:
    backend = fake_backend("llamacpp", context_length=5)
    response = chat(backend)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "exceed_context_size_error" and error["n_ctx"] == 5
    assert error["message"] == "the request exceeds the available context size, try increasing it"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_strict_template_rejects_a_bad_role_order(fake_backend: Start, flavour: str) -> None:
    backend = fake_backend(flavour, strict_template=True, models=["fake-model"])
    ok = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "run it"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function"}]},
        {"role": "tool", "tool_call_id": "c1", "content": "hi"},
        {"role": "assistant", "content": "It printed hi."},
        {"role": "user", "content": "thanks"},
    ]
    assert chat(backend, messages=ok).status_code == 200
    for bad in (
        [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
        [{"role": "user", "content": "a"}, {"role": "system", "content": "late"}],
        [{"role": "assistant", "content": "first"}],
        [{"role": "user", "content": "a"}, {"role": "tool", "content": "x", "tool_call_id": "c"}],
    ):
        response = chat(backend, messages=bad)
        assert response.status_code == 400
        assert ALTERNATION_ERROR in response.text


def test_strict_mode_refuses_null_and_missing_assistant_content(fake_backend: Start) -> None:
    backend = fake_backend("llamacpp", strict_template=True)
    turn: list[dict[str, Any]] = [
        {"role": "user", "content": "a"},
        {"role": "assistant"},
        {"role": "user", "content": "b"},
    ]
    assert chat(backend, messages=turn).status_code == 500
    turn[1]["content"] = None
    assert chat(backend, messages=turn).status_code == 422
    turn[1]["content"] = ""
    assert chat(backend, messages=turn).status_code == 200


def test_script_queue_then_default_and_records(fake_backend: Start) -> None:
    backend = fake_backend("lmstudio")
    backend.script(Text("one"), Error(503, "<html>down</html>", content_type="text/html"))
    assert streamed_text(events(chat(backend))) == "one"
    down = chat(backend)
    assert down.status_code == 503 and down.text == "<html>down</html>"
    assert streamed_text(events(chat(backend))) == DEFAULT_TEXT
    assert chat(backend, stream=False).status_code == 200
    requests = backend.chat_requests
    assert len(requests) == 4
    method, path, headers, body = requests[0]
    assert (method, path, body["messages"]) == ("POST", "/v1/chat/completions", HELLO)
    assert headers["content-type"] == "application/json"


def test_openai_overflow_error(fake_backend: Start) -> None:
    backend = fake_backend("lmstudio")
    backend.script(context_length_exceeded(9000, 8192))
    response = chat(backend)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"


def test_cut_after_drops_the_connection_without_done(fake_backend: Start) -> None:
    backend = fake_backend("lmstudio")
    backend.script(CutAfter(2))
    received = b""
    with pytest.raises(httpx.RemoteProtocolError):
        body = {"messages": HELLO, "stream": True}
        with httpx.stream("POST", f"{backend.url}/chat/completions", json=body) as response:
            for data in response.iter_bytes():
                received += data
    assert received.count(b"data: ") == 2 and b"[DONE]" not in received
    assert b'"finish_reason":"stop"' not in received


def test_malformed_json_and_sse_are_inserted(fake_backend: Start) -> None:
    backend = fake_backend("llamacpp")
    backend.script(MalformedJSON(after=1), MalformedSSE(after=2, raw=b"garbage\n\n"))
    broken = chat(backend).text.split("\n\n")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(broken[1][6:])
    assert broken[-2] == "data: [DONE]"
    assert chat(backend).text.split("\n\n")[2] == "garbage"
    backend.script(MalformedJSON())
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(chat(backend, stream=False).content)


def test_slow_chunks_take_their_time(fake_backend: Start) -> None:
    backend = fake_backend("ollama", models=["fake-model"])
    backend.script(Text("abcd", chunks=4, delay=0.05))
    began = time.monotonic()
    chunks = events(chat(backend))
    # Four content events, a final one and [DONE]: five gaps.
    assert time.monotonic() - began >= 0.25
    assert streamed_text(chunks) == "abcd"


def test_disconnect_mid_stream_is_seen(fake_backend: Start) -> None:
    backend = fake_backend("lmstudio")
    backend.script(SilenceAfter(after=2, seconds=30))
    body = {"messages": HELLO, "stream": True}
    with httpx.stream("POST", f"{backend.url}/chat/completions", json=body) as response:
        first = next(response.iter_lines())
        assert first.startswith("data: ")
    assert backend.wait_for_disconnect(timeout=5)
    assert backend.disconnects == 1


def test_disconnect_during_a_stall_or_after_headers_is_seen(fake_backend: Start) -> None:
    backend = fake_backend("llamacpp")
    backend.script(Stall(30), HeadersThenSilence(30))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{backend.url}/chat/completions", json={"messages": HELLO}, timeout=0.3)
    assert backend.wait_for_disconnect(1, timeout=5)
    with httpx.stream(
        "POST", f"{backend.url}/chat/completions", json={"messages": HELLO, "stream": True}
    ) as response:
        assert response.status_code == 200
    assert backend.wait_for_disconnect(2, timeout=5)
