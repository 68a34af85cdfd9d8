"""Never silent: once the gateway knows it will answer a stream, the client gets message_start
and pings until the first token, whatever the backend does meanwhile (a queue, a model loading,
headers and no chunk, a first chunk the translator holds back)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from gateway.config import BackendConfig
from gateway.runner import GatewayServer
from tests.fakes.faults import held_then_silence
from tests.fakes.replies import Error, Gate, HeadersThenSilence, Held, Text
from tests.fakes.wire import RawBackend
from tests.gateway.api.client import Gateway, Start, body
from tests.gateway.translate.grammar import Event, accumulate, assert_valid_stream, parse_sse

# Short intervals, and silences long enough for many of them: the counts asserted below hold
# with a wide margin on a loaded machine.
QUICK = {"commit_after": 0.2, "ping_interval": 0.3}
SILENCE = 3.0

TOOLS = [
    {
        "name": "Read",
        "description": "Read a file",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
    }
]


def frames(response: httpx.Response) -> Iterator[Event]:
    """Events as they arrive."""
    tail = b""
    for data in response.iter_bytes():
        tail += data
        *complete, tail = tail.split(b"\n\n")
        for frame in complete:
            yield from parse_sse(frame + b"\n\n")


def read_stream(
    server: GatewayServer,
    payload: dict[str, Any],
    on_event: Callable[[list[Event]], None] = lambda events: None,
) -> list[Event]:
    """The whole stream; `on_event` sees the events so far after each one. A silent gateway
    fails the read (10 s without a byte) instead of hanging the test."""
    events: list[Event] = []
    timeout = httpx.Timeout(30.0, read=10.0)
    with httpx.stream("POST", f"{server.url}/v1/messages", json=payload, timeout=timeout) as r:
        assert r.status_code == 200
        for event in frames(r):
            events.append(event)
            on_event(events)
    return events


def before_first_token(events: list[Event]) -> list[str]:
    names = [name for name, _ in events]
    first = names.index("content_block_start") if "content_block_start" in names else len(names)
    return names[:first]


def assert_kept_alive(events: list[Event], pings: int) -> None:
    assert_valid_stream(events)
    early = before_first_token(events)
    assert early[0] == "message_start"
    assert early.count("ping") >= pings, early


def test_a_queued_stream_gets_message_start_and_pings(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(
        fake.url, backends=[BackendConfig(id="fake", url=fake.url, concurrency=1)], **QUICK
    )
    gate = Gate()
    fake.script(Held(gate), Text("second"))
    first = threading.Thread(
        target=lambda: httpx.post(f"{server.url}/v1/messages", json=body(), timeout=30)
    )
    first.start()
    assert fake.wait_for_requests(1)
    try:
        # The second waits in the gateway's queue until the first is answered: the gate opens
        # once the waiting client has had three pings.
        def open_after_pings(events: list[Event]) -> None:
            if [name for name, _ in events].count("ping") >= 3:
                gate.open()

        events = read_stream(server, body(stream=True), open_after_pings)
    finally:
        gate.open()
        first.join(30)
    assert_kept_alive(events, 3)
    assert accumulate(events)["content"][0]["text"] == "second"


def test_headers_and_no_chunk_get_pings(fake_backend: Start, gateway_server: Gateway) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url, **QUICK)
    fake.script(HeadersThenSilence(SILENCE, Text("processed")))
    events = read_stream(server, body(stream=True))
    assert_kept_alive(events, 3)
    assert accumulate(events)["content"][0]["text"] == "processed"


def test_a_model_loading_gets_pings(fake_backend: Start, gateway_server: Gateway) -> None:
    """llama.cpp answers 503 "Loading model" until the model is in memory."""
    fake = fake_backend("llamacpp")
    server = gateway_server(fake.url, **QUICK)
    loading = Error(
        503, {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
    )
    fake.script(loading, loading, loading, Text("loaded"))
    events = read_stream(server, body(stream=True))
    assert_kept_alive(events, 3)
    assert accumulate(events)["content"][0]["text"] == "loaded"


@pytest.mark.parametrize(
    "first",
    [
        {"content": "<tool_call>"},
        {"tool_calls": [{"index": 0, "id": "call_1", "function": {"arguments": "{"}}]},
    ],
    ids=["text-tool-call-opening", "call-without-its-name"],
)
def test_a_first_chunk_held_back_is_no_reason_for_silence(
    first: dict[str, Any], gateway_server: Gateway
) -> None:
    # The translator has content but nothing it can send yet (it waits for the call's end, or
    # for its name): the client still gets message_start and pings while the model goes on.
    with RawBackend(held_then_silence(first, SILENCE)) as backend:
        server = gateway_server(backend.url, **QUICK)
        events = read_stream(server, body(stream=True, tools=TOOLS))
    assert_kept_alive(events, 3)
