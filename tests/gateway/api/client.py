"""How the request-path integration tests talk to the gateway and its fake backends: raw httpx
posts, streams read back through the SSE grammar checker, the request records, and waiting for
a condition that only the gateway's state shows (a request waiting in a queue)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from gateway.events import EventBus, RequestRecord
from gateway.runner import GatewayServer
from tests.fakes.server import FakeBackend
from tests.gateway.translate.grammar import accumulate, assert_valid_stream, parse_sse
from tests.records import RecordSink

__all__ = [
    "NATIVE",
    "Gateway",
    "Start",
    "body",
    "error_of",
    "last_record",
    "message_of",
    "post",
    "start_pair",
    "streaming",
    "wait_for_probe",
    "wait_until",
]

Start = Callable[..., FakeBackend]
Gateway = Callable[..., GatewayServer]

# The fake options under which each server has its own /v1/messages, so that the gateway's
# protocol table (gateway/backends/protocols.py) chooses "anthropic" by itself.
NATIVE: dict[str, dict[str, Any]] = {
    "lmstudio": {"rest": "both"},
    "ollama": {"version": "0.33.0"},
    "llamacpp": {"messages_api": True},
}


def error_of(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """The `error` of an Anthropic error envelope, which must be all the body holds (and, with
    `status`, come with that status); never a traceback."""
    if status is not None:
        assert response.status_code == status, response.text
    data = response.json()
    assert data["type"] == "error" and set(data) == {"type", "error"}
    assert "Traceback" not in response.text
    error: dict[str, Any] = data["error"]
    return error


def body(text: str = "hi", *, stream: bool = False, **fields: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
        **fields,
    }


def post(
    server: GatewayServer,
    payload: dict[str, Any],
    *,
    path: str = "/v1/messages",
    headers: dict[str, str] | None = None,
    timeout: float = 20.0,
) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=payload, headers=headers, timeout=timeout)


def message_of(response: httpx.Response) -> dict[str, Any]:
    """The Anthropic message a 200 answer carries: JSON as is, a stream checked against the
    grammar and accumulated the way the SDK does."""
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("text/event-stream"):
        events = parse_sse(response.content)
        assert_valid_stream(events)
        return accumulate(events)
    message: dict[str, Any] = response.json()
    assert message["type"] == "message"
    return message


def start_pair(
    fake_backend: Start,
    gateway_server: Gateway,
    flavour: str,
    *,
    fake: dict[str, Any] | None = None,
    **config: Any,
) -> tuple[FakeBackend, GatewayServer, RecordSink]:
    """A fake backend, a gateway in front of it, and the gateway's request records."""
    backend = fake_backend(flavour, **(fake or {}))
    bus = EventBus()
    sink = RecordSink(bus)
    if flavour == "ollama":
        # Ollama lists every model as name:tag.
        config.setdefault("big", "fake-model:latest")
        config.setdefault("small", config["big"])
    server = gateway_server(backend.url, bus=bus, **config)
    # The registry gives its first probe up to 3 s before the gateway serves; on a loaded machine
    # it may take longer, and until then a backend is spoken to as plain chat completions.
    wait_for_probe(server)
    return backend, server, sink


def wait_for_probe(server: GatewayServer) -> None:
    """Until a probe finds every backend up. Under heavy load a probe can time out (300 ms
    connect, 1 s read) and mark a backend down for a moment; the fakes are up, so wait for the
    probe that says so."""
    registry = server.registry
    assert registry is not None
    registry.probe_soon()
    wait_until(
        lambda: all(b.state == "up" for b in registry.snapshot().backends),
        "a probe that finds the backend up",
        timeout=20,
    )


def last_record(sink: RecordSink, count: int = 1) -> RequestRecord:
    return sink.wait(count)[-1]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll a condition that no event announces (the gateway's queue), up to `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@contextmanager
def streaming(
    server: GatewayServer, payload: dict[str, Any], timeout: float = 20.0
) -> Iterator[httpx.Response]:
    """A streamed request held open, for tests that read it while something else happens."""
    with httpx.Client(timeout=timeout) as client:
        with client.stream("POST", f"{server.url}/v1/messages", json=payload) as response:
            yield response
