"""A backend's stream line longer than `max_stream_line_bytes` ends that stream at once with an
`event: error` that names the cause; the rest of the line is neither read nor held."""

from __future__ import annotations

import time

import httpx
import pytest

from gateway.api import relay
from tests.fakes.faults import huge_line
from tests.fakes.wire import GOOD_MODEL, RawBackend, beside_a_good_one
from tests.gateway.api.client import Gateway, Start, body, error_of
from tests.gateway.load.memory import MB, PeakRSS
from tests.gateway.translate.grammar import accumulate, assert_valid_stream, parse_sse


def test_a_50_mb_stream_line_ends_the_stream_with_an_error_event(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    good = fake_backend("lmstudio")
    with RawBackend(huge_line(50 * MB)) as backend:
        # Committed at once, so that the error is an event of the stream.
        config = beside_a_good_one(backend.url, good.url, commit_after=0)
        server = gateway_server(good.url, **config)
        started = time.perf_counter()
        with PeakRSS() as peak:
            response = httpx.post(f"{server.url}/v1/messages", json=body(stream=True), timeout=60)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200
        events = parse_sse(response.content)
        assert_valid_stream(events, allow_error=True)
        name, error = events[-1]
        assert name == "error"
        assert error["error"]["type"] == "api_error"
        assert error["error"]["message"] == (
            f"the backend at {backend.url} sent a stream line longer than 4 MiB "
            "(max_stream_line_bytes); the stream was ended there"
        )
        # The gateway hung up at 4 MiB instead of reading (and holding) 50 MB.
        assert backend.wait_for_abandoned(1)
        assert peak.growth <= 40 * MB, f"{peak.growth / MB:.0f} MB"
        assert elapsed < 20, f"{elapsed:.1f} s"
        ok = httpx.post(f"{server.url}/v1/messages", json=body(model=GOOD_MODEL), timeout=30)
        assert ok.json()["content"][0]["text"] == "Hello from the fake backend."


def test_the_limit_is_a_setting(gateway_server: Gateway) -> None:
    with RawBackend(huge_line(100_000)) as backend:
        server = gateway_server(backend.url, max_stream_line_bytes=64 * 1024, commit_after=30)
        response = httpx.post(f"{server.url}/v1/messages", json=body(stream=True), timeout=30)
        # Not committed yet: the same error as an HTTP answer.
        error = error_of(response, 502)
        assert "longer than 65,536 bytes" in error["message"]
    # A line under the limit goes through whole.
    with RawBackend(huge_line(50_000, then_text=" and more")) as backend:
        server = gateway_server(backend.url, max_stream_line_bytes=64 * 1024)
        response = httpx.post(f"{server.url}/v1/messages", json=body(stream=True), timeout=30)
        assert response.status_code == 200
        events = parse_sse(response.content)
        assert_valid_stream(events)
        text = accumulate(events)["content"][0]["text"]
        assert text.endswith("x and more") and len(text) > 49_000


def test_a_line_without_its_end_is_read_slowly_past_1_mib(
    gateway_server: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past 1 MiB without its end, a line is read at a bounded rate (64 MiB/s; 8 MiB/s here), so
    that a backend pouring out one endless line after another cannot take the event loop from
    every other client; a line that ends in time goes through whole."""
    monkeypatch.setattr(relay, "_LONG_LINE_RATE", 8 * MB)
    with RawBackend(huge_line(50 * MB)) as backend:
        server = gateway_server(backend.url, commit_after=0)
        started = time.perf_counter()
        response = httpx.post(f"{server.url}/v1/messages", json=body(stream=True), timeout=60)
        elapsed = time.perf_counter() - started
        name, error = parse_sse(response.content)[-1]
        assert name == "error" and "longer than 4 MiB" in error["error"]["message"]
    # From 1 MiB to the 4 MiB cap at 8 MiB/s: 0.375 s at least (read unpaced, ~0.02 s).
    assert elapsed >= 0.3, f"{elapsed:.3f} s"
    with RawBackend(huge_line(2 * MB, then_text=" and more")) as backend:
        server = gateway_server(backend.url)
        response = httpx.post(f"{server.url}/v1/messages", json=body(stream=True), timeout=30)
        assert_valid_stream(parse_sse(response.content))
