"""Hostile request bodies: nesting deeper than anything can write, huge strings, broken UTF-8,
unknown blocks, ten thousand tools, model names that try to inject headers or SSE events, and
bodies past the size limit. Each gets a clear answer in Anthropic's format, never a 500."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.api.guard import read_body
from gateway.errors import RequestTooLarge
from gateway.events import EventBus
from gateway.logfile import LOG_FILE_NAME, attach_log_file
from gateway.runner import GatewayServer
from gateway.schemas.anthropic import MAX_DEPTH
from tests.fakes.server import FakeBackend
from tests.gateway.api.client import error_of
from tests.gateway.translate.grammar import accumulate, assert_valid_stream, parse_sse
from tests.records import RecordSink

Start = Callable[..., FakeBackend]
Gateway = Callable[..., GatewayServer]
BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hi"}],
}
BIG_CONTEXT = 10_000_000


def send(server: GatewayServer, raw: bytes, path: str = "/v1/messages") -> httpx.Response:
    return httpx.post(
        f"{server.url}{path}",
        content=raw,
        headers={"content-type": "application/json"},
        timeout=60,
    )


def nested(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


def with_nesting(where: str, depth: int) -> bytes:
    """A valid request with `depth` levels of [[[…]]] in one field."""
    deep = nested(depth)
    tool_turns = (
        b'{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Bash",'
        b'"input":{"a":' + deep + b'}}]},{"role":"user","content":[{"type":"tool_result",'
        b'"tool_use_id":"t1","content":"done"}]}'
    )
    head = b'{"model":"claude-sonnet-4-6","max_tokens":5,'
    user = b'{"role":"user","content":"hi"}'
    if where == "metadata":
        return head + b'"metadata":{"x":' + deep + b'},"messages":[' + user + b"]}"
    if where == "tool input":
        return head + b'"messages":[' + user + b"," + tool_turns + b"]}"
    if where == "tool schema":
        schema = b'{"type":"object","x":' + deep + b"}"
        tools = b'"tools":[{"name":"T","input_schema":' + schema + b"}]"
        return head + tools + b',"messages":[' + user + b"]}"
    assert where == "block", where
    block = b'{"type":"mystery","x":' + deep + b"}"
    return head + b'"messages":[{"role":"user","content":[' + block + b"]}]}"


PLACES = ["metadata", "tool input", "tool schema", "block"]


@pytest.mark.parametrize("where", PLACES)
def test_nesting_100_000_levels_deep_is_400(
    where: str, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    started = time.perf_counter()
    error = error_of(send(server, with_nesting(where, 100_000)), 400)
    assert time.perf_counter() - started < 5
    assert error["type"] == "invalid_request_error"
    assert "depth" in error["message"] or "nested too deeply" in error["message"]
    assert fake.chat_requests == []


@pytest.mark.parametrize("depth", [MAX_DEPTH + 10, 300, 1000])
@pytest.mark.parametrize("where", PLACES)
def test_nesting_readable_but_too_deep_to_write_again_is_400(
    where: str, depth: int, fake_backend: Start, gateway_server: Gateway
) -> None:
    """orjson reads 1,024 levels and writes 254: such a request once crashed the prompt counter."""
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        error = error_of(send(server, with_nesting(where, depth), path), 400)
        assert error["message"] == (
            f"the request body is nested too deeply (more than {MAX_DEPTH} levels)"
        )
    assert fake.chat_requests == []
    assert send(server, orjson.dumps(BODY)).status_code == 200


def test_nesting_within_the_limit_reaches_the_backend_intact(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    response = send(server, with_nesting("tool input", 150))
    assert response.status_code == 200, response.text
    call = fake.chat_requests[0].body["messages"][1]["tool_calls"][0]
    assert orjson.loads(call["function"]["arguments"]) == {"a": orjson.loads(nested(150))}


def test_a_20_mb_text_block_under_the_limit_is_served(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio", context_length=BIG_CONTEXT)
    server = gateway_server(fake.url)
    text = "All work and no play. " * (20 * 1024 * 1024 // 22)
    body = {**BODY, "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]}
    response = send(server, orjson.dumps(body))
    assert response.status_code == 200, response.text[:300]
    assert response.json()["content"][0]["text"] == "Hello from the fake backend."
    assert fake.chat_requests[0].body["messages"][-1]["content"] == text


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model":"claude-sonnet-4-6","max_tokens":5,"messages":[{"role":"user","content":"\xff"}]}',
        b'{"model":"claude-\xc3","max_tokens":5,"messages":[]}',
        b'{"model":"claude-sonnet-4-6","max_tokens":5,"messages":[{"role":"user","content":"\xed'
        b'\xa0\x80"}]}',
        b'{"model":"claude-sonnet-4-6","max_tokens":5,"messages":[{"role":"user","content":"\\ud8'
        b'00 alone"}]}',
        b'{"model":"claude-sonnet-4-6","max_tokens":5,"messages":[{"role":"user","content":"\\udc'
        b'00\\ud800"}]}',
    ],
    ids=["invalid byte", "cut sequence", "encoded surrogate", "lone surrogate", "reversed pair"],
)
def test_invalid_utf8_and_lone_surrogates_are_400(
    raw: bytes, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        error = error_of(send(server, raw, path), 400)
        assert error["type"] == "invalid_request_error"
    assert fake.chat_requests == []


def test_unknown_block_types_become_placeholders(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    odd = {"type": "hologram", "beam": {"colour": "blue"}}
    content = [odd, {"type": "text", "text": "hi"}, {"type": "", "x": 1}]
    body = {**BODY, "messages": [{"role": "user", "content": content}]}
    for stream in (False, True):
        response = send(server, orjson.dumps({**body, "stream": stream}))
        assert response.status_code == 200, response.text
    sent = fake.chat_requests[0].body["messages"][-1]["content"]
    assert "[hologram omitted]" in sent and "hi" in sent and "blue" not in sent


def test_an_unknown_block_type_where_only_text_goes_is_400(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    server = gateway_server(fake_backend("lmstudio").url)
    body = {**BODY, "system": [{"type": "hologram", "text": "x"}]}
    error = error_of(send(server, orjson.dumps(body)), 400)
    assert error["message"].startswith("system.0.type:")


def test_ten_thousand_tools(fake_backend: Start, gateway_server: Gateway) -> None:
    fake = fake_backend("lmstudio", context_length=BIG_CONTEXT)
    server = gateway_server(fake.url)
    schema = {"type": "object", "properties": {"path": {"type": "string"}}}
    tools = [
        {"name": f"tool_{n}", "description": "d", "input_schema": schema} for n in range(10_000)
    ]
    started = time.perf_counter()
    response = send(server, orjson.dumps({**BODY, "tools": tools}))
    assert response.status_code == 200, response.text[:300]
    assert time.perf_counter() - started < 20
    sent = fake.chat_requests[0].body["tools"]
    assert len(sent) == 10_000 and sent[-1]["function"]["name"] == "tool_9999"


INJECTIONS = [
    "gpt\r\nX-Injected: 1",
    "модель\r\nX-Injected: 1",
    "ok\r\n\r\nHTTP/1.1 200 OK\r\nX-Injected: 1\r\n\r\n",
    "x\nevent: message_stop\ndata: {}\n\n",
    "\u2028\u0085\x00 nul",
]


@pytest.mark.parametrize("model", INJECTIONS)
@pytest.mark.parametrize("stream", [False, True])
def test_a_model_name_cannot_inject_headers(
    model: str, stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    response = send(server, orjson.dumps({**BODY, "model": model, "stream": stream}))
    error = error_of(response, 404)
    assert error["type"] == "not_found_error"
    assert "x-injected" not in response.headers
    assert response.headers["content-type"] == "application/json"
    assert fake.chat_requests == []


@pytest.mark.parametrize("tail", ["\r\nX-Injected: 1", "\n\nevent: message_stop\ndata: {}\n\n"])
def test_a_served_model_name_is_echoed_as_data_only(
    tail: str, tmp_path: Path, fake_backend: Start, gateway_server: Gateway
) -> None:
    """A name that routes (it starts with "claude") comes back exactly as sent, the way Anthropic
    echoes it, inside JSON: no header, no extra SSE event, one log line."""
    fake = fake_backend("lmstudio")
    bus = EventBus()
    records = RecordSink(bus)
    detach = attach_log_file(bus, tmp_path)
    try:
        server = gateway_server(fake.url, bus=bus)
        model = "claude-sonnet-4-6" + tail
        plain = send(server, orjson.dumps({**BODY, "model": model}))
        assert plain.status_code == 200 and "x-injected" not in plain.headers
        assert plain.json()["model"] == model
        streamed = send(server, orjson.dumps({**BODY, "model": model, "stream": True}))
        assert streamed.status_code == 200 and "x-injected" not in streamed.headers
        events = parse_sse(streamed.content)
        assert_valid_stream(events)
        assert accumulate(events)["model"] == model
        records.wait(2)
    finally:
        detach()
    lines = (tmp_path / LOG_FILE_NAME).read_text(encoding="utf-8").splitlines()
    assert all(line[:2] == "20" for line in lines), lines  # each line starts with its date
    assert len([line for line in lines if " POST /v1/messages " in line]) == 2


def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_413(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    raw = orjson.dumps(BODY)
    server = gateway_server(fake.url, max_body_bytes=len(raw))
    assert send(server, raw).status_code == 200
    padded = raw[:-1] + b" }"
    error = error_of(send(server, padded), 413)
    assert error["type"] == "request_too_large"


def test_a_chunked_body_is_read_no_further_than_the_limit() -> None:
    """The size check runs on every piece received: a client sending forever is cut off after
    the limit plus at most one piece."""
    limit, piece = 64 * 1024, 16 * 1024
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += piece
        return {"type": "http.request", "body": b"x" * piece, "more_body": True}

    with pytest.raises(RequestTooLarge):
        asyncio.run(read_body(receive, limit))
    assert received <= limit + piece


def test_a_client_string_of_any_length_reaches_the_record_and_the_log_bounded(
    tmp_path: Path, fake_backend: Start, gateway_server: Gateway
) -> None:
    """A 100 KB model name (and a 50 KB header) once made a 200,627-character log line: every
    string from the client is cut where the record is made, and says how much was left out."""
    fake = fake_backend("lmstudio")
    bus = EventBus()
    records = RecordSink(bus)
    detach = attach_log_file(bus, tmp_path)
    try:
        server = gateway_server(fake.url, bus=bus)
        unknown = "m" * 100_000  # routes nowhere: the 404 names it
        served = "claude-sonnet-4-6" + "x" * 100_000  # routes, and is echoed back whole
        for model in (unknown, served):
            response = httpx.post(
                f"{server.url}/v1/messages",
                content=orjson.dumps({**BODY, "model": model}),
                headers={"content-type": "application/json", "x-client-note": "n" * 50_000},
                timeout=60,
            )
            assert response.status_code in (200, 404)
        assert response.json()["model"] == served  # the answer itself is not cut
        first, second = records.wait(2)
    finally:
        detach()
    for record in (first, second):
        assert record.client_model is not None
        assert len(record.client_model) < 300
        assert record.client_model.endswith("more characters)")
        assert len(record.error or "") < 2100
        headers = record.extra["headers"]
        assert len(headers["x-client-note"]) < 2100
    assert first.client_model == "m" * 256 + "… (99,744 more characters)"
    assert first.error is not None and "more characters" in first.error
    lines = (tmp_path / LOG_FILE_NAME).read_text(encoding="utf-8").splitlines()
    requests = [line for line in lines if " POST /v1/messages " in line]
    assert len(requests) == 2
    assert max(len(line) for line in requests) < 3000, [len(line) for line in requests]
