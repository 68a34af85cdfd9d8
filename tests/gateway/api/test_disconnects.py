"""A client that goes away at any point of an answer: before the headers, after message_start,
inside a tool_use block, after the last block, and in the middle of a non-streamed answer. Each
time the backend's request is cancelled (it sees its connection closed), the record says 499,
and the next request is served."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from gateway.events import EventBus
from gateway.runner import GatewayServer
from tests.fakes.replies import Reply, SilenceAfter, Stall, Text, ToolCall, ToolCalls
from tests.fakes.server import FakeBackend
from tests.fakes.wire import GOOD_MODEL, HalfAnswer, RawBackend, beside_a_good_one
from tests.records import RecordSink

Start = Callable[..., FakeBackend]
Gateway = Callable[..., GatewayServer]
BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hi"}],
}
LONG = 30.0  # a pause no test waits out: the disconnect ends it
CALL = ToolCall("Bash", {"command": "ls -la " * 20})


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


def read_until(sock: socket.socket, done: Callable[[bytes], bool]) -> bytes:
    sock.settimeout(10)
    received = b""
    while not done(received):
        data = sock.recv(65536)
        assert data, f"the gateway closed the answer early: {received!r}"
        received += data
    return received


def still_serving(server: GatewayServer, fake: FakeBackend) -> None:
    fake.script(Text("still here"))
    response = httpx.post(f"{server.url}/v1/messages", json=BODY, timeout=10)
    assert response.json()["content"][0]["text"] == "still here"


# (reply, what the client waits for before it leaves; None: the backend has the request)
POINTS: dict[str, tuple[Reply, Callable[[bytes], bool] | None]] = {
    "before the headers": (Stall(LONG), None),
    "after message_start": (Stall(LONG), lambda got: b"event: message_start" in got),
    "inside a tool_use block": (
        SilenceAfter(4, LONG, ToolCalls([CALL], chunks=6)),
        # Its arguments come whole when the block ends: leave once the block has started.
        lambda got: b'"type":"tool_use"' in got,
    ),
    # All the text is out; the backend has not said that it finished.
    "after the last block": (
        SilenceAfter(4, LONG, Text("one two three", chunks=3)),
        lambda got: got.count(b'"text_delta"') == 3,
    ),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_a_stream_left_at_any_point_cancels_the_backend_request(
    point: str, fake_backend: Start, gateway_server: Gateway
) -> None:
    reply, leave_after = POINTS[point]
    fake = fake_backend("lmstudio")
    bus = EventBus()
    records = RecordSink(bus)
    # Before the headers, nothing commits the stream; after, it commits at once.
    commit_after = LONG if leave_after is None else 0.1
    server = gateway_server(fake.url, bus=bus, commit_after=commit_after)
    fake.script(reply)
    sock = open_raw(server, {**BODY, "stream": True})
    try:
        assert fake.wait_for_requests(1)
        if leave_after is not None:
            read_until(sock, leave_after)
    finally:
        sock.close()
    assert fake.wait_for_disconnect(1, timeout=5)
    record = records.wait(1)[0]
    assert record.status == 499 and record.stream
    assert record.error == "the client closed the connection"
    still_serving(server, fake)


def test_a_non_streamed_answer_left_in_its_middle_cancels_the_backend_request(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    good = fake_backend("lmstudio")
    half = HalfAnswer()
    bus = EventBus()
    records = RecordSink(bus)
    with RawBackend(half) as backend:
        server = gateway_server(good.url, bus=bus, **beside_a_good_one(backend.url, good.url))
        sock = open_raw(server, BODY)
        try:
            assert half.halfway.wait(10)
        finally:
            sock.close()
        assert backend.wait_for_abandoned(1)
        assert records.wait(1)[0].status == 499
        response = httpx.post(
            f"{server.url}/v1/messages", json={**BODY, "model": GOOD_MODEL}, timeout=10
        )
        assert response.json()["content"][0]["text"] == "Hello from the fake backend."
