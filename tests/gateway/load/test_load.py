"""Load, at a size that runs in seconds: 64 streams at once for about three seconds each, and
2,000 requests one after another; every answer valid, and afterwards the memory, the open files
and the threads of the process back where they were."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from gateway.config import BackendConfig
from gateway.runner import GatewayServer
from tests.fakes.wire import RawBackend, answer
from tests.gateway.load.memory import MB, Resources, rss
from tests.gateway.translate.grammar import accumulate, assert_valid_stream, parse_sse

# Measures time or memory: nothing else of the run competes with it.
pytestmark = pytest.mark.alone

Gateway = Callable[..., GatewayServer]
BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hi"}],
}
TEXT = "A steady answer, paced like a local model. " * 3


def parallel(backend: RawBackend, slots: int) -> dict[str, Any]:
    """Config overrides: the backend serves `slots` requests at once (as llama.cpp with
    --parallel does), so none waits in the gateway's queue."""
    return {"backends": [BackendConfig(id="fake", url=backend.url, concurrency=slots)]}


def streamed_text(body: bytes) -> str:
    events = parse_sse(body)
    assert_valid_stream(events)
    message = accumulate(events)
    assert message["stop_reason"] == "end_turn"
    return "".join(block["text"] for block in message["content"])


@pytest.fixture
def paced() -> Iterator[RawBackend]:
    # 30 pieces 0.1 s apart: a stream of about 3 s.
    with RawBackend(answer(TEXT, pieces=30, delay=0.1)) as backend:
        yield backend


def test_64_concurrent_streams(paced: RawBackend, gateway_server: Gateway) -> None:
    before = Resources()
    server = gateway_server(paced.url, **parallel(paced, 64))

    async def one(client: httpx.AsyncClient) -> tuple[str, float]:
        started = time.perf_counter()
        response = await client.post("/v1/messages", json={**BODY, "stream": True})
        assert response.status_code == 200, response.text
        return streamed_text(response.content), time.perf_counter() - started

    async def all_at_once() -> list[tuple[str, float]]:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client:
            return await asyncio.gather(*(one(client) for _ in range(64)))

    started = time.perf_counter()
    results = asyncio.run(all_at_once())
    elapsed = time.perf_counter() - started
    assert [text for text, _ in results] == [TEXT] * 64
    assert min(seconds for _, seconds in results) >= 2.5  # each one really was paced
    # One after another they would take over three minutes.
    assert elapsed < 20, f"{elapsed:.1f} s"
    assert paced.chat_requests == 64
    # Stopped, the gateway leaves nothing open: its pooled connections are closed with it.
    server.stop()
    assert paced.wait_until_idle()
    after = Resources()
    assert abs(after.fds - before.fds) <= 2, (before, after)
    assert abs(after.threads - before.threads) <= 2, (before, after)


def ask(client: httpx.Client, n: int) -> None:
    stream = n % 2 == 1
    response = client.post("/v1/messages", json={**BODY, "stream": stream})
    assert response.status_code == 200, response.text
    if stream:
        assert streamed_text(response.content) == "ok"
    else:
        message = response.json()
        assert message["type"] == "message" and message["content"][0]["text"] == "ok"


def test_2000_sequential_requests_leak_nothing(gateway_server: Gateway) -> None:
    with RawBackend(answer("ok")) as backend:
        server = gateway_server(backend.url, **parallel(backend, 4))
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for n in range(400):  # warm-up: pools, caches, allocator arenas
                ask(client, n)
            before, memory = Resources(), rss()
            for n in range(1600):
                ask(client, n)
            after, grown = Resources(), rss() - memory
        assert backend.chat_requests == 2000
    assert grown <= 5 * MB, f"{grown / MB:.1f} MB"
    assert abs(after.fds - before.fds) <= 2, (before, after)
    assert abs(after.threads - before.threads) <= 2, (before, after)
