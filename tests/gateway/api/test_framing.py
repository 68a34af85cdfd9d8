"""Ambiguous HTTP framing, sent on a raw socket (httpx will not send two Host headers) to a real
uvicorn on loopback: two Hosts or Content-Lengths that disagree get Anthropic's 400, and the
connection is closed, before anything else runs."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
from typing import Any

import pytest

from gateway.api.framing import ambiguous_framing
from gateway.api.guard import Guard
from gateway.events import EventBus
from tests.gateway.api.client import Gateway, Start
from tests.records import RecordSink

BODY = json.dumps(
    {"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
).encode()


def exchange(port: int, head: list[str], body: bytes = b"") -> tuple[int, dict[str, str], Any]:
    """Send the request line and headers exactly as given; the status, headers and JSON body of
    the answer, which must close the connection."""
    raw = "\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + body
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock)
        response.begin()
        data = response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
        assert sock.recv(1) == b"", "the connection was left open"
    return response.status, headers, json.loads(data)


def post(port: int, *headers: str) -> list[str]:
    return ["POST /v1/messages HTTP/1.1", "Content-Type: application/json", *headers]


def assert_400(status: int, headers: dict[str, str], body: Any, says: str) -> None:
    assert status == 400, body
    assert body["type"] == "error" and set(body) == {"type", "error"}
    assert body["error"]["type"] == "invalid_request_error"
    assert says in body["error"]["message"]
    assert headers["content-type"] == "application/json"
    assert headers["x-should-retry"] == "false"


@pytest.mark.parametrize(
    "hosts",
    [
        ["evil.example", "127.0.0.1:{port}"],  # the last one used to win: 200
        ["127.0.0.1:{port}", "evil.example"],
        ["127.0.0.1:{port}", "127.0.0.1:{port}"],
    ],
)
def test_two_host_headers_are_400_and_reach_nothing(
    hosts: list[str], fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    bus = EventBus()
    records = RecordSink(bus)
    server = gateway_server(fake.url, bus=bus)
    lines = [f"Host: {host.format(port=server.port)}" for host in hosts]
    length = f"Content-Length: {len(BODY)}"
    status, headers, body = exchange(server.port, post(server.port, *lines, length), BODY)
    assert_400(status, headers, body, "2 Host headers")
    status, headers, body = exchange(server.port, ["GET /health HTTP/1.1", *lines])
    assert_400(status, headers, body, "2 Host headers")
    assert fake.chat_requests == []
    refused = records.wait(2)
    assert [(r.status, r.request_class) for r in refused] == [(400, "refused")] * 2
    # One Host is served as before, on a new connection.
    host = f"Host: 127.0.0.1:{server.port}"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall("\r\n".join(post(server.port, host, length)).encode() + b"\r\n\r\n" + BODY)
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 200
        assert json.loads(response.read())["type"] == "message"


@pytest.mark.parametrize(
    "framing",
    [
        ["Content-Length: {n}", "Content-Length: 5"],
        ["Content-Length: {n}, 5"],
        ["Content-Length: {n}", "Transfer-Encoding: chunked"],
    ],
)
def test_conflicting_lengths_are_400_in_anthropics_format(
    framing: list[str], fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    lines = [line.format(n=len(BODY)) for line in framing]
    head = post(server.port, f"Host: 127.0.0.1:{server.port}", *lines)
    status, headers, body = exchange(server.port, head, BODY)
    assert_400(status, headers, body, "not valid HTTP/1.1")
    assert headers["connection"] == "close"
    assert fake.chat_requests == []


async def _through_guard(headers: list[tuple[bytes, bytes]]) -> tuple[list[dict[str, Any]], int]:
    reached = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal reached
        reached += 1

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    guard = Guard(
        app, bind_host="127.0.0.1", allowed_hosts=(), token=lambda: None, max_body_bytes=1 << 20
    )
    scope = {"type": "http", "method": "POST", "path": "/v1/messages", "headers": headers}
    await guard(scope, receive, send)
    return sent, reached


def test_the_guard_refuses_lengths_that_disagree_whatever_parser_let_them_through() -> None:
    # httptools refuses these before the guard sees them; another parser might not.
    common = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]
    length = str(len(BODY)).encode()
    sent, reached = asyncio.run(
        _through_guard([*common, (b"content-length", length), (b"content-length", b"5")])
    )
    assert reached == 0
    assert sent[0]["status"] == 400
    assert (b"connection", b"close") in sent[0]["headers"]
    assert b"Content-Length headers disagree" in sent[1]["body"]
    sent, reached = asyncio.run(
        _through_guard([*common, (b"content-length", length), (b"content-length", length)])
    )
    assert reached == 1 and sent == []  # the same length twice is one length


def test_ambiguous_framing_reads_lists_and_counts_hosts() -> None:
    assert ambiguous_framing([(b"host", b"a"), (b"content-length", b"5, 5")]) is None
    assert ambiguous_framing([(b"content-length", b"5, 6")]) is not None
    three = ambiguous_framing([(b"host", b"a")] * 3)
    assert three is not None and three.status == 400 and "3 Host headers" in three.message
