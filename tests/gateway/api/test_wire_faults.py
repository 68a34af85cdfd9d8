"""Faults below the HTTP surface: a backend that accepts and never answers, speaks HTTP/1.0,
closes every keep-alive connection, sends a body too large to hold or a stream of 200,000
chunks, or asks to be retried later. After each, the gateway still answers a good request."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gateway.config import BackendConfig
from gateway.runner import GatewayServer
from tests.fakes.replies import Error, Text
from tests.fakes.wire import (
    GOOD_MODEL,
    ChatReply,
    RawBackend,
    SilentPort,
    answer,
    beside_a_good_one,
    close_after_each,
    drop_reused,
    http10,
    huge_json,
    many_chunks,
)
from tests.gateway.api.client import Gateway, Start, error_of
from tests.gateway.load.memory import MB, PeakRSS
from tests.gateway.translate.grammar import Event, accumulate, assert_valid_stream, parse_sse

BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hi"}],
}


def post(
    server: GatewayServer, *, stream: bool = False, model: str | None = None
) -> httpx.Response:
    body = {**BODY, "stream": stream, "model": model or BODY["model"]}
    return httpx.post(f"{server.url}/v1/messages", json=body, timeout=30)


def text_of(response: httpx.Response, stream: bool) -> str:
    assert response.status_code == 200, response.text
    if stream:
        events = parse_sse(response.content)
        assert_valid_stream(events)
        message = accumulate(events)
    else:
        message = response.json()
    assert message["stop_reason"] == "end_turn"
    return "".join(block["text"] for block in message["content"])


def still_serving(server: GatewayServer, model: str | None = None) -> None:
    assert text_of(post(server, model=model), stream=False) == "Hello from the fake backend."


@pytest.mark.parametrize("stream", [False, True])
def test_a_backend_that_accepts_and_never_answers_is_a_first_byte_timeout(
    stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    good = fake_backend("lmstudio")
    with SilentPort() as silent:
        config = beside_a_good_one(
            silent.url, good.url, timeouts={"first_byte": 1.0}, commit_after=30
        )
        server = gateway_server(good.url, **config)
        started = time.perf_counter()
        response = post(server, stream=stream)
        assert response.status_code == 504
        assert time.perf_counter() - started < 10
        error = error_of(response)
        assert error["type"] == "api_error"
        assert error["message"] == f"the backend at {silent.url} did not send anything within 1 s"
        assert response.headers["x-should-retry"] == "true"
        still_serving(server, GOOD_MODEL)


def test_a_silent_backend_after_the_commit_is_an_error_event(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    good = fake_backend("lmstudio")
    with SilentPort() as silent:
        config = beside_a_good_one(
            silent.url, good.url, timeouts={"first_byte": 1.0}, commit_after=0.2, ping_interval=0.3
        )
        server = gateway_server(good.url, **config)
        response = post(server, stream=True)
        assert response.status_code == 200
        events = parse_sse(response.content)
        assert_valid_stream(events, allow_error=True)
        assert [name for name, _ in events][:2] == ["message_start", "ping"]
        assert events[-1][1]["error"]["message"].endswith("did not send anything within 1 s")
        still_serving(server, GOOD_MODEL)


@pytest.mark.parametrize("stream", [False, True])
def test_an_http_1_0_backend_with_close_delimited_bodies(
    stream: bool, gateway_server: Gateway
) -> None:
    with RawBackend(http10("An answer from 1996.")) as backend:
        server = gateway_server(backend.url)
        for _ in range(3):
            assert text_of(post(server, stream=stream), stream) == "An answer from 1996."
        assert backend.chat_requests == 3
        # One connection per request: nothing was sent on a connection the server had closed.
        assert backend.connections >= 3


@pytest.mark.parametrize(
    ("reply", "chat_requests"),
    [
        # Closes each connection after its answer: the gateway must not send on a closed one.
        (close_after_each, 20),
        # The race the first can lose, made certain: a reused connection closed without an
        # answer. Nobody answered, so the request goes once more, on a new connection, and the
        # client never sees the race: 20 answers and the one dropped request.
        (drop_reused, 21),
    ],
    ids=["close-after-each", "drop-reused"],
)
def test_a_backend_that_closes_keep_alive_connections(
    reply: Callable[[str], ChatReply], chat_requests: int, gateway_server: Gateway
) -> None:
    with RawBackend(reply("Fresh connection, same answer.")) as backend:
        server = gateway_server(backend.url)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for n in range(20):
                stream = n % 2 == 1
                response = client.post("/v1/messages", json={**BODY, "stream": stream})
                assert text_of(response, stream) == "Fresh connection, same answer."
        assert backend.chat_requests == chat_requests


def test_a_connection_idle_for_4_s_is_not_reused_for_a_local_backend(
    gateway_server: Gateway,
) -> None:
    # llama-server, LM Studio and vLLM close a connection idle for 5 s; the gateway does not
    # send on one idle for longer than 4 s, so it never meets one the backend is closing.
    with RawBackend(answer("Hello.")) as backend:
        server = gateway_server(backend.url)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert text_of(client.post("/v1/messages", json=BODY), False) == "Hello."
            before = backend.connections
            assert text_of(client.post("/v1/messages", json=BODY), False) == "Hello."
            assert backend.connections == before  # reused while fresh
            time.sleep(4.3)  # longer than the gateway keeps a connection, under the backend's 5 s
            assert text_of(client.post("/v1/messages", json=BODY), False) == "Hello."
            assert backend.connections == before + 1


def test_a_backend_that_drops_every_request_is_a_502_after_one_retry(
    gateway_server: Gateway,
) -> None:
    with RawBackend(drop_reused("never", fresh_too=True)) as backend:
        server = gateway_server(backend.url)
        response = httpx.post(f"{server.url}/v1/messages", json=BODY, timeout=30)
        assert response.status_code == 502, response.text
        assert "disconnected" in error_of(response)["message"].lower()
        assert backend.chat_requests == 2


def test_a_50_mb_answer_is_refused_without_holding_it(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    good = fake_backend("lmstudio")
    with RawBackend(huge_json(50 * MB)) as backend:
        server = gateway_server(good.url, **beside_a_good_one(backend.url, good.url))
        with PeakRSS() as peak:
            response = post(server)
        assert response.status_code == 502
        error = error_of(response)
        assert error["type"] == "api_error"
        assert "larger than 32 MB" in error["message"]
        assert peak.growth <= 120 * MB, f"{peak.growth / MB:.0f} MB"
        # The gateway hung up instead of reading the rest.
        assert backend.wait_for_abandoned(1)
        still_serving(server, GOOD_MODEL)


class _Coalesced:
    """A stream's events with each run of text deltas merged into one: the grammar is the same
    and 200,000 deltas are not held as 200,000 dicts."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.deltas = 0
        self._tail = b""

    def feed(self, data: bytes) -> None:
        frames = (self._tail + data).split(b"\n\n")
        self._tail = frames.pop()
        for name, event in parse_sse(b"\n\n".join(frames) + b"\n\n") if frames else []:
            if name == "content_block_delta":
                self.deltas += 1
                last = self.events[-1] if self.events else None
                if last and last[0] == name and last[1]["delta"]["type"] == "text_delta":
                    last[1]["delta"]["text"] += event["delta"]["text"]
                    continue
            self.events.append((name, event))


def test_a_stream_of_200_000_chunks_completes_in_bounded_memory(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    good = fake_backend("lmstudio")
    count = 200_000
    with RawBackend(many_chunks(count)) as backend:
        server = gateway_server(good.url, **beside_a_good_one(backend.url, good.url))
        seen = _Coalesced()
        with PeakRSS() as peak:
            with httpx.stream(
                "POST", f"{server.url}/v1/messages", json={**BODY, "stream": True}, timeout=60
            ) as response:
                assert response.status_code == 200
                for data in response.iter_bytes():
                    seen.feed(data)
        assert_valid_stream(seen.events)
        assert accumulate(seen.events)["content"] == [{"type": "text", "text": "x" * count}]
        assert seen.deltas >= 1
        # ~28 MB come from the backend and ~40 MB go to the client: relayed, never held whole.
        assert peak.growth <= 40 * MB, f"{peak.growth / MB:.0f} MB"
        still_serving(server, GOOD_MODEL)


def test_429_retry_after_is_waited_out_when_retries_are_set(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url, backends=[BackendConfig(id="fake", url=fake.url, retries=1)])
    fake.script(Error(429, {"error": "slow down"}, headers={"retry-after": "1"}), Text("waited"))
    started = time.perf_counter()
    response = post(server)
    assert text_of(response, stream=False) == "waited"
    assert time.perf_counter() - started >= 1.0
    assert len(fake.chat_requests) == 2


def test_429_with_an_http_date_retry_after(fake_backend: Start, gateway_server: Gateway) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    fake.script(Error(429, {"error": "slow down"}, headers={"retry-after": date}))
    response = post(server)
    assert response.status_code == 429
    assert error_of(response)["type"] == "rate_limit_error"
    assert response.headers["x-should-retry"] == "true"
    still_serving(server)
