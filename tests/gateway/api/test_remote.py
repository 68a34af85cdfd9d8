"""Remote providers through their presets, with a fake standing in for the provider: retries
before the first byte, providers that cannot stream, the output ceiling, and servers that
refuse `stream_options`."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import BackendConfig
from gateway.events import EventBus
from gateway.runner import GatewayServer
from tests.fakes.replies import DEFAULT_TEXT, Error, Text
from tests.fakes.server import FakeBackend
from tests.gateway.api.client import Gateway, Start, body, last_record, message_of, post
from tests.records import RecordSink

RATE_LIMITED = Error(
    429,
    {"error": {"message": "Rate limit exceeded: free-models-per-min", "code": 429}},
    headers={"retry-after": "0.1"},
)
STREAM_OPTIONS_REFUSED = Error(
    400,
    {
        "error": {
            "message": "Unrecognized request argument supplied: stream_options",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    },
)


def remote(
    fake_backend: Start, gateway_server: Gateway, kind: str = "openrouter", **backend: Any
) -> tuple[FakeBackend, GatewayServer, RecordSink]:
    """A provider preset whose URL points at a fake (kinds with a preset are never probed as
    local servers: the gateway only lists their models)."""
    fake = fake_backend("lmstudio")
    config = BackendConfig(id="fake", kind=kind, url=fake.url, **backend)
    bus = EventBus()
    sink = RecordSink(bus)
    server = gateway_server(fake.url, bus=bus, backends=[config])
    return fake, server, sink


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_rate_limits_are_retried_before_the_first_byte(
    stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = remote(fake_backend, gateway_server)
    fake.script(RATE_LIMITED, RATE_LIMITED)
    message = message_of(post(server, body(stream=stream)))
    assert message["content"] == [{"type": "text", "text": DEFAULT_TEXT}]
    assert len(fake.chat_requests) == 3  # two retries: the default for a remote provider
    assert fake.chat_requests[0].headers["x-title"] == "LM Gate"  # the preset's headers
    record = last_record(records)
    assert record.status == 200 and record.backend == "fake"


def test_the_retries_run_out(fake_backend: Start, gateway_server: Gateway) -> None:
    fake, server, records = remote(fake_backend, gateway_server, retries=1)
    fake.script(RATE_LIMITED, RATE_LIMITED, Text("too late"))
    response = post(server, body())
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["type"] == "rate_limit_error" and "Rate limit exceeded" in error["message"]
    assert response.headers["retry-after"] == "1" and response.headers["x-should-retry"] == "true"
    assert len(fake.chat_requests) == 2


def test_a_local_backend_is_not_retried(fake_backend: Start, gateway_server: Gateway) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    fake.script(RATE_LIMITED)
    assert post(server, body()).status_code == 429
    assert len(fake.chat_requests) == 1


def test_a_provider_that_cannot_stream_is_asked_once_and_streamed(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = remote(fake_backend, gateway_server, kind="custom", can_stream=False)
    fake.script(Text("whole answer"))
    message = message_of(post(server, body(stream=True)))
    assert message["content"] == [{"type": "text", "text": "whole answer"}]
    (sent,) = fake.chat_requests
    assert sent.body["stream"] is False and "stream_options" not in sent.body
    record = last_record(records)
    assert "asked the backend without streaming (it cannot stream)" in record.changes
    assert record.stream and record.status == 200


def test_the_output_ceiling_caps_max_tokens(fake_backend: Start, gateway_server: Gateway) -> None:
    fake, server, records = remote(fake_backend, gateway_server, max_output_tokens=1000)
    message_of(post(server, body(max_tokens=32000)))
    assert fake.chat_requests[0].body["max_tokens"] == 1000
    changes = last_record(records).changes
    assert "max_tokens capped from 32000 to 1000: the provider's output ceiling is 1000" in changes


def test_the_deepseek_preset_has_its_own_ceiling(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = remote(fake_backend, gateway_server, kind="deepseek")
    message_of(post(server, body(max_tokens=32000)))
    assert fake.chat_requests[0].body["max_tokens"] == 8192


@pytest.mark.parametrize("kind", ["custom", "auto"], ids=["remote", "local"])
def test_stream_options_refused_once_then_never_sent(
    kind: str, fake_backend: Start, gateway_server: Gateway
) -> None:
    if kind == "auto":
        fake = fake_backend("lmstudio")
        bus = EventBus()
        records = RecordSink(bus)
        server = gateway_server(fake.url, bus=bus)
    else:
        fake, server, records = remote(fake_backend, gateway_server, kind=kind)
    fake.script(STREAM_OPTIONS_REFUSED)
    first = message_of(post(server, body(stream=True)))
    assert first["content"] == [{"type": "text", "text": DEFAULT_TEXT}]
    refused, accepted = fake.chat_requests
    assert refused.body["stream_options"] == {"include_usage": True}
    assert "stream_options" not in accepted.body and accepted.body["stream"] is True
    assert "stream_options dropped: the backend refuses it" in last_record(records).changes

    message_of(post(server, body(stream=True)))
    assert len(fake.chat_requests) == 3
    assert "stream_options" not in fake.chat_requests[-1].body
