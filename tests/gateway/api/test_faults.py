"""Faults: a backend that is down, fails, stalls, cuts or garbles; a client that goes away.
Every answer is in Anthropic's error format, and the gateway keeps serving."""

from __future__ import annotations

import socket
import time
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from gateway.runner import GatewayServer
from tests.fakes.replies import (
    CutAfter,
    Error,
    HeadersThenSilence,
    MalformedJSON,
    MalformedSSE,
    SilenceAfter,
    Stall,
    Text,
    context_length_exceeded,
)
from tests.fakes.server import closed_port
from tests.gateway.api.client import Gateway, Start, error_of
from tests.gateway.translate.grammar import accumulate, assert_valid_stream, parse_sse

BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hi"}],
}


def post(server: GatewayServer, stream: bool = False, **kw: Any) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/messages", json={**BODY, "stream": stream}, timeout=10, **kw
    )


def stream_error(response: httpx.Response) -> dict[str, Any]:
    """A committed stream that failed: valid grammar up to one final `event: error`."""
    assert response.status_code == 200
    events = parse_sse(response.content)
    assert_valid_stream(events, allow_error=True)
    name, data = events[-1]
    assert name == "error", events
    error: dict[str, Any] = data["error"]
    return error


@pytest.mark.parametrize("stream", [False, True])
def test_backend_down_is_503_naming_url_and_what_to_start(
    stream: bool, gateway_server: Gateway
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    server = gateway_server(url)
    response = post(server, stream)
    assert response.status_code == 503
    error = error_of(response)
    assert error["type"] == "api_error" and url in error["message"]
    assert "start" in error["message"]
    assert response.headers["x-should-retry"] == "false"


@pytest.mark.parametrize(
    ("reply", "status", "kind", "retry"),
    [
        (Error(400, {"error": {"message": "bad thing"}}), 400, "invalid_request_error", "false"),
        (Error(404, {"error": "model 'x' not found"}), 404, "not_found_error", "false"),
        (
            Error(429, {"error": "slow down"}, headers={"retry-after": "7"}),
            429,
            "rate_limit_error",
            "true",
        ),
        (Error(500), 500, "api_error", "true"),
        (
            Error(502, "<html><h1>Bad Gateway</h1></html>", content_type="text/html"),
            502,
            "api_error",
            "true",
        ),
        (Error(503, {"error": "server busy"}), 529, "overloaded_error", "true"),
    ],
)
def test_backend_errors_keep_their_message(
    reply: Error, status: int, kind: str, retry: str, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    fake.script(reply, reply)
    for stream in (False, True):
        response = post(server, stream)
        assert response.status_code == status
        error = error_of(response)
        assert error["type"] == kind and fake.url in error["message"]
        assert response.headers["x-should-retry"] == retry
    if status == 429:
        assert response.headers["retry-after"] == "7"
    if status == 502:
        assert "Bad Gateway" in error["message"] and "<" not in error["message"]


@pytest.mark.parametrize("flavour", ["lmstudio", "llamacpp"])
def test_context_overflow_is_prompt_too_long(
    flavour: str, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend(flavour, context_length=10)
    server = gateway_server(fake.url)
    body = {**BODY, "messages": [{"role": "user", "content": "word " * 200}]}
    response = httpx.post(f"{server.url}/v1/messages", json=body)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("prompt is too long")
    assert "> 10 maximum" in error["message"]


def test_openai_style_overflow(fake_backend: Start, gateway_server: Gateway) -> None:
    fake = fake_backend("ollama")
    server = gateway_server(fake.url)
    fake.script(context_length_exceeded(9000, 8192))
    with anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0) as client:
        with pytest.raises(anthropic.BadRequestError) as info:
            client.messages.create(**BODY)
    assert isinstance(info.value.body, dict)
    assert info.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "prompt is too long: 9000 tokens > 8192 maximum",
    }


def test_stream_cut_after_content_is_an_error_event(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    fake.script(CutAfter(2))  # the role chunk and one piece of text
    error = stream_error(post(server, stream=True))
    assert error["type"] == "api_error"
    assert "closed the connection before the model finished" in error["message"]


def test_stream_without_finish_reason_is_never_end_turn(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("ollama")
    server = gateway_server(fake.url)
    fake.script(CutAfter(4, Text(chunks=3)))  # role + all 3 pieces, then closed: no finish
    response = post(server, stream=True)
    assert b"end_turn" not in response.content
    stream_error(response)


def test_malformed_json_mid_stream(fake_backend: Start, gateway_server: Gateway) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    fake.script(MalformedJSON(after=2), MalformedJSON(after=1))
    # after content has gone out: an error event
    error = stream_error(post(server, stream=True))
    assert error["type"] == "api_error" and "not JSON" in error["message"]
    # before any content: still an HTTP error
    response = post(server, stream=True)
    assert response.status_code == 502 and "not JSON" in error_of(response)["message"]


def test_lines_that_are_not_sse_are_skipped(fake_backend: Start, gateway_server: Gateway) -> None:
    """An SSE parser ignores lines that are not fields (the SSE standard); the answer survives."""
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    fake.script(MalformedSSE(after=2))
    events = parse_sse(post(server, stream=True).content)
    assert_valid_stream(events)
    text = "".join(d["delta"].get("text", "") for n, d in events if n == "content_block_delta")
    assert text == "Hello from the fake backend."


def test_malformed_json_non_streamed(fake_backend: Start, gateway_server: Gateway) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    fake.script(MalformedJSON())
    response = post(server)
    assert response.status_code == 502
    assert "not JSON" in error_of(response)["message"]


@pytest.mark.alone
def test_silent_backend_gets_committed_stream_with_pings(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url, commit_after=0.2, ping_interval=0.25)
    fake.script(Stall(1.2, Text("late")))
    started = time.perf_counter()
    seen: list[tuple[float, str]] = []
    with httpx.stream("POST", f"{server.url}/v1/messages", json={**BODY, "stream": True}) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("event: "):
                seen.append((time.perf_counter() - started, line[7:]))
    names = [n for _, n in seen]
    assert names[0] == "message_start" and seen[0][0] < 0.8
    assert names.count("ping") >= 2
    assert names[-1] == "message_stop" and "content_block_delta" in names


def test_silence_mid_stream_gets_pings(fake_backend: Start, gateway_server: Gateway) -> None:
    fake = fake_backend("llamacpp")
    server = gateway_server(fake.url, ping_interval=0.2)
    fake.script(SilenceAfter(2, 0.7))  # content is flowing, then the model pauses
    events = parse_sse(post(server, stream=True).content)
    assert_valid_stream(events)
    assert [n for n, _ in events].count("ping") >= 2


def test_first_byte_timeout(fake_backend: Start, gateway_server: Gateway) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url, timeouts={"first_byte": 0.4}, commit_after=5)
    fake.script(Stall(3))
    response = post(server)
    assert response.status_code == 504
    assert "0.4 s" in error_of(response)["message"]
    fake.script(Stall(3))
    response = post(server, stream=True)
    assert response.status_code == 504


def test_idle_timeout_mid_stream_is_an_error_event(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url, timeouts={"idle": 0.4}, ping_interval=0.1)
    fake.script(SilenceAfter(2, 3))
    error = stream_error(post(server, stream=True))
    assert "0.4 s" in error["message"]
    assert error["message"].endswith("did not send more within 0.4 s"), error


def test_headers_then_silence_times_out_as_idle(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url, timeouts={"idle": 0.4}, commit_after=0.1)
    fake.script(HeadersThenSilence(3))
    error = stream_error(post(server, stream=True))
    # The headers were the first byte: what ran out was the idle timer, not the first-byte one.
    assert error["type"] == "api_error"
    assert error["message"].endswith("did not send more within 0.4 s"), error


def open_raw(server: GatewayServer, body: dict[str, Any]) -> socket.socket:
    """A client that sends a request and can leave at any moment (httpx waits for headers)."""
    data = orjson.dumps(body)
    sock = socket.create_connection(("127.0.0.1", server.port))
    head = (
        f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    sock.sendall(head.encode() + data)
    return sock


@pytest.mark.alone
@pytest.mark.parametrize("stream", [False, True])
def test_client_disconnect_closes_the_upstream_connection(
    stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    """Esc in Claude Code: the backend sees its connection closed within 200 ms."""
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url, commit_after=0.1)
    # Streamed: the model is generating. Non-streamed: the backend is still working on it.
    fake.script(Text("x" * 50, chunks=50, delay=0.1) if stream else Stall(5))
    sock = open_raw(server, {**BODY, "stream": stream})
    assert fake.wait_for_requests(1)
    if stream:
        received = b""
        while b"content_block_delta" not in received:
            received += sock.recv(65536)
    sock.close()
    closed_at = time.perf_counter()
    assert fake.wait_for_disconnect(1, timeout=2.0)
    assert time.perf_counter() - closed_at < 0.2
    # and the gateway keeps serving
    fake.script(Text("still here"))
    assert post(server).json()["content"][0]["text"] == "still here"


def test_a_model_that_is_loading_is_waited_for(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    """llama.cpp answers 503 "Loading model" while it loads: wait (with pings), not 529."""
    fake = fake_backend("llamacpp")
    server = gateway_server(fake.url, commit_after=0.2, ping_interval=0.3)
    loading = Error(
        503, {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
    )
    fake.script(loading, loading, Text("loaded now"))
    events = parse_sse(post(server, stream=True).content)
    assert_valid_stream(events)
    names = [n for n, _ in events]
    assert "ping" in names
    assert accumulate(events)["content"][0]["text"] == "loaded now"
    assert len(fake.chat_requests) == 3


def test_gateway_keeps_serving_after_faults(fake_backend: Start, gateway_server: Gateway) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    fake.script(CutAfter(1), MalformedJSON(), Error(500), Text("fine"))
    for _ in range(3):
        post(server, stream=True)
    assert post(server).json()["content"][0]["text"] == "fine"
