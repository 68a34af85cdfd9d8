"""Fallbacks, the circuit breaker and least-busy replicas over HTTP: a real gateway in front of
several fake backends on loopback, the official SDK as the client, and the faults each backend
really has (connection refused, 500 and 529 before the first byte, a context overflow, a stream
cut after the client got content)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import anthropic
import httpx

from gateway.config import BackendConfig
from gateway.events import EventBus, RequestRecord
from gateway.runner import GatewayServer
from tests.fakes.replies import CutAfter, Error, Gate, Held, Text, context_length_exceeded
from tests.fakes.server import FakeBackend, closed_port
from tests.gateway.api.client import Gateway, Start, body, post, wait_until
from tests.records import RecordSink


def gateway_over(
    gateway_server: Gateway,
    backends: Sequence[BackendConfig],
    *,
    dead: Sequence[str] = (),
    **config: Any,
) -> tuple[GatewayServer, RecordSink]:
    """A gateway over `backends` once a probe has found each of them up (but the `dead`)."""
    bus = EventBus()
    sink = RecordSink(bus)
    server = gateway_server("http://unused", bus=bus, backends=list(backends), **config)
    registry = server.registry
    assert registry is not None
    registry.probe_soon()
    live = {b.id for b in backends} - set(dead)
    wait_until(lambda: _probed(server, live), "the live backends probed up", timeout=20)
    return server, sink


def _probed(server: GatewayServer, live: set[str]) -> bool:
    registry = server.registry
    assert registry is not None
    snapshot = registry.snapshot()
    return all((b := snapshot.backend(i)) is not None and b.state == "up" for i in live)


def ask(server: GatewayServer, text: str = "hi", **fields: Any) -> anthropic.types.Message:
    with anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0) as client:
        message: anthropic.types.Message = client.messages.create(
            model=fields.pop("model", "claude-sonnet-4-6"),
            max_tokens=64,
            messages=[{"role": "user", "content": text}],
            **fields,
        )
    return message


def hops(record: RequestRecord) -> list[tuple[str, str]]:
    return [(a.backend, a.outcome) for a in record.attempts]


def pair(
    fake_backend: Start, gateway_server: Gateway, **config: Any
) -> tuple[FakeBackend, FakeBackend, GatewayServer, RecordSink]:
    """Backend a, whose fallback is backend b; big is pinned to a."""
    a, b = fake_backend("lmstudio"), fake_backend("lmstudio")
    server, sink = gateway_over(
        gateway_server,
        [BackendConfig(id="a", url=a.url, fallbacks=["b"]), BackendConfig(id="b", url=b.url)],
        big="a:fake-model",
        small="a:fake-model",
        **config,
    )
    return a, b, server, sink


def test_connection_refused_falls_back_to_the_next_backend(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    b = fake_backend("lmstudio")
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    server, sink = gateway_over(
        gateway_server,
        [BackendConfig(id="a", url=dead, fallbacks=["b"]), BackendConfig(id="b", url=b.url)],
        dead=["a"],
        big="a:fake-model",
        small="a:fake-model",
    )
    message = ask(server)
    assert message.content[0].text == "Hello from the fake backend."  # type: ignore[union-attr]
    record = sink.wait(1)[-1]
    assert hops(record) == [("a", "unreachable"), ("b", "ok")]
    assert (record.backend, record.status) == ("b", 200)
    assert len(b.chat_requests) == 1


def test_a_500_or_529_before_the_first_byte_falls_back(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    a, b, server, sink = pair(fake_backend, gateway_server)
    a.script(Error(500), Error(529, {"error": {"message": "busy", "type": "overloaded"}}))
    for n, expected in ((1, "HTTP 500"), (2, "overloaded")):
        response = post(server, body("hi", stream=n == 2))
        assert response.status_code == 200, response.text
        record = sink.wait(n)[-1]
        assert hops(record) == [("a", expected), ("b", "ok")]
    assert len(a.chat_requests) == 2 and len(b.chat_requests) == 2


def test_an_overflow_goes_to_a_later_target_that_holds_the_prompt(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    # a's window is unknown to the gateway's plan (the default 4096 holds the prompt), but a
    # answers that the prompt is 5000 tokens; c is as small, d is large enough.
    a = fake_backend("lmstudio")
    c = fake_backend("lmstudio", context_length=4096)
    d = fake_backend("lmstudio", context_length=32768)
    server, sink = gateway_over(
        gateway_server,
        [
            BackendConfig(id="a", url=a.url, fallbacks=["c", "d"]),
            BackendConfig(id="c", url=c.url),
            BackendConfig(id="d", url=d.url),
        ],
        big="a:fake-model",
        small="a:fake-model",
    )
    a.script(context_length_exceeded(5000, 4096))
    message = ask(server)
    assert message.content
    record = sink.wait(1)[-1]
    assert hops(record) == [
        ("a", "prompt too long (window 4096)"),
        ("c", "skipped: window too small"),
        ("d", "ok"),
    ]
    assert not c.chat_requests and len(d.chat_requests) == 1


def test_no_fallback_once_the_client_has_content(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    a, b, server, sink = pair(fake_backend, gateway_server)
    a.script(CutAfter(3, Text("one two three four five six", chunks=6)))
    with httpx.Client(timeout=20) as client:
        response = client.post(f"{server.url}/v1/messages", json=body("hi", stream=True))
    assert response.status_code == 200
    assert b"part" not in response.content and b"event: error" in response.content
    record = sink.wait(1)[-1]
    assert hops(record) == [("a", "HTTP 502 after the answer began")]
    assert not b.chat_requests


def test_the_breaker_skips_a_failing_backend_then_probes_it(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    a, b, server, sink = pair(
        fake_backend, gateway_server, routes={"breaker": {"failures": 2, "cooldown": 0.6}}
    )
    a.script(Error(500), Error(500))
    for n in (1, 2):
        assert post(server, body(f"r{n}")).status_code == 200
        assert hops(sink.wait(n)[-1]) == [("a", "HTTP 500"), ("b", "ok")]
    # Open: a is not asked at all.
    assert post(server, body("r3")).status_code == 200
    assert hops(sink.wait(3)[-1]) == [("a", "skipped: breaker open"), ("b", "ok")]
    assert len(a.chat_requests) == 2
    time.sleep(0.7)
    # Half-open: one request probes a, which answers again: closed.
    assert post(server, body("r4")).status_code == 200
    assert hops(sink.wait(4)[-1]) == [("a", "ok")]
    assert post(server, body("r5")).status_code == 200
    assert hops(sink.wait(5)[-1]) == [("a", "ok")]
    assert len(a.chat_requests) == 4 and len(b.chat_requests) == 3
    state = server.app_state
    assert state is not None and state.router.breaker("a") == "closed"


def test_a_failed_probe_opens_the_breaker_again(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    a, b, server, sink = pair(
        fake_backend, gateway_server, routes={"breaker": {"failures": 1, "cooldown": 0.5}}
    )
    a.script(Error(500), Error(502))
    assert post(server, body("r1")).status_code == 200
    time.sleep(0.6)
    assert post(server, body("r2")).status_code == 200  # the probe fails: b answers
    assert hops(sink.wait(2)[-1]) == [("a", "HTTP 502"), ("b", "ok")]
    assert post(server, body("r3")).status_code == 200
    assert hops(sink.wait(3)[-1]) == [("a", "skipped: breaker open"), ("b", "ok")]
    assert len(a.chat_requests) == 2


def test_one_model_on_two_backends_goes_to_the_least_busy(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    r1, r2 = fake_backend("lmstudio"), fake_backend("lmstudio")
    server, sink = gateway_over(
        gateway_server,
        [BackendConfig(id="r1", url=r1.url), BackendConfig(id="r2", url=r2.url)],
        big="fake-model",
        small="fake-model",
    )
    gates = [Gate() for _ in range(4)]
    r1.script(*(Held(g, Text("r1")) for g in gates[:2]))
    r2.script(*(Held(g, Text("r2")) for g in gates[2:]))
    with ThreadPoolExecutor(4) as pool:
        try:
            futures = []
            for n in range(4):
                futures.append(pool.submit(post, server, body(f"q{n}")))
                # Each request is in flight before the next is routed.
                wait_until(partial(_arrived, server, r1, r2, more_than=n), f"request {n} in flight")
        finally:
            for gate in gates:
                gate.open()
        answers = [f.result() for f in futures]
    assert all(a.status_code == 200 for a in answers)
    served = [r.backend or "" for r in sink.wait(4)]
    assert sorted(served) == ["r1", "r1", "r2", "r2"]


def _arrived(server: GatewayServer, *fakes: FakeBackend, more_than: int) -> bool:
    """More than `more_than` requests at a backend or waiting in the gateway's queue for one."""
    state = server.app_state
    assert state is not None
    waiting = sum(q.waiting for q in state.queues.values())
    return waiting + sum(len(f.chat_requests) for f in fakes) > more_than
