"""Deadlines that hold: an answer read whole must be complete within `timeouts.deadline`, however
its bytes trickle in; a stream is bounded by its first-byte and idle timeouts instead, and may
run longer than the deadline while it flows."""

from __future__ import annotations

import time

import httpx
import pytest

from gateway.config import BackendConfig
from tests.fakes.faults import trickle
from tests.fakes.replies import Text
from tests.fakes.wire import RawBackend
from tests.gateway.api.client import Gateway, Start, body, error_of, message_of

TIMEOUTS = {"first_byte": 5.0, "idle": 5.0, "deadline": 2.0}


@pytest.mark.parametrize("stream", [False, True], ids=["non-streamed", "streamed-fetched-whole"])
def test_a_trickling_backend_cannot_hold_an_answer_past_the_deadline(
    stream: bool, gateway_server: Gateway
) -> None:
    # One byte every 0.5 s keeps the 5 s idle timeout from ever firing.
    with RawBackend(trickle(0.5)) as backend:
        server = gateway_server(
            backend.url,
            # A backend that cannot stream: a streamed request is fetched whole too.
            backends=[BackendConfig(id="fake", url=backend.url, can_stream=False)],
            timeouts=TIMEOUTS,
            commit_after=30,
        )
        started = time.perf_counter()
        response = httpx.post(f"{server.url}/v1/messages", json=body(stream=stream), timeout=30)
        elapsed = time.perf_counter() - started
        error = error_of(response, 504)
        assert error["type"] == "api_error"
        assert error["message"] == (
            f"the backend at {backend.url} did not finish its answer within 2 s"
        )
        # Claude Code retries a 504 that says so.
        assert response.headers["x-should-retry"] == "true"
        assert 2.0 <= elapsed < 10, f"{elapsed:.1f} s"
        assert backend.wait_for_abandoned(1)


def test_a_stream_may_flow_for_longer_than_the_deadline(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url, timeouts={**TIMEOUTS, "deadline": 0.5})
    fake.script(Text("a slow but steady stream", chunks=6, delay=0.25))
    started = time.perf_counter()
    response = httpx.post(f"{server.url}/v1/messages", json=body(stream=True), timeout=30)
    assert time.perf_counter() - started > 0.5
    assert message_of(response)["content"][0]["text"] == "a slow but steady stream"
