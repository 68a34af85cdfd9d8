"""Scenario routes over HTTP with the official SDK: long context, images, thinking, subagents and
background requests each reach their route's model, and the record says which route and why."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from gateway.config import BackendConfig
from gateway.events import RequestRecord
from gateway.runner import GatewayServer
from tests.fakes.server import FakeBackend
from tests.gateway.api.client import Gateway, Start
from tests.gateway.api.test_fallbacks_http import gateway_over
from tests.records import RecordSink

ROUTED = ["vision-model", "agent-model", "side-model", "thinker-model"]
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5E"
    "rkJggg=="
)


@pytest.fixture
def routed(
    fake_backend: Start, gateway_server: Gateway
) -> tuple[dict[str, FakeBackend], GatewayServer, RecordSink]:
    fakes = {
        "main": fake_backend("lmstudio"),
        "routes": fake_backend("lmstudio", models=ROUTED),
        "narrow": fake_backend("lmstudio", models=["long-model"], context_length=4096),
        "wide": fake_backend("lmstudio", models=["long-model"], context_length=32768),
    }
    server, sink = gateway_over(
        gateway_server,
        [BackendConfig(id=name, url=fake.url) for name, fake in fakes.items()],
        big="main:fake-model",
        small="main:fake-model",
        routes={
            "long_context": {"threshold": 5000, "targets": ["long-model"]},
            "images": {"targets": ["vision-model"]},
            "thinking": {"targets": ["thinker-model"], "min_effort": "xhigh"},
            "subagent": {"targets": ["agent-model"]},
            "background": {"targets": ["side-model"]},
        },
    )
    return fakes, server, sink


def ask(server: GatewayServer, content: Any, **fields: Any) -> None:
    with anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0) as client:
        message = client.messages.create(
            model=fields.pop("model", "claude-sonnet-5-5"),
            max_tokens=fields.pop("max_tokens", 64),
            messages=[{"role": "user", "content": content}],
            **fields,
        )
    assert message.content


def last(sink: RecordSink, n: int) -> RequestRecord:
    return sink.wait(n)[-1]


def asked_models(fake: FakeBackend) -> list[str]:
    return [r.body["model"] for r in fake.chat_requests]


def test_each_scenario_reaches_its_model(
    routed: tuple[dict[str, FakeBackend], GatewayServer, RecordSink],
) -> None:
    fakes, server, sink = routed
    ask(server, "plain")
    assert (last(sink, 1).route, last(sink, 1).route_reason, last(sink, 1).backend) == (
        "big",
        None,
        "main",
    )
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    ask(server, [image, {"type": "text", "text": "what is this?"}])
    record = last(sink, 2)
    assert (record.route, record.route_reason, record.backend_model) == (
        "images",
        "1 image block",
        "vision-model",
    )
    ask(
        server,
        "prove it",
        max_tokens=2048,
        thinking={"type": "adaptive"},
        extra_body={"output_config": {"effort": "max"}},
    )
    record = last(sink, 3)
    assert (record.route, record.backend_model) == ("thinking", "thinker-model")
    assert record.route_reason == "adaptive thinking at effort max (≥ xhigh)"
    ask(server, "explore", extra_headers={"x-claude-code-agent-id": "agent-7"})
    record = last(sink, 4)
    assert (record.route, record.route_reason, record.backend_model) == (
        "subagent",
        "x-claude-code-agent-id: agent-7",
        "agent-model",
    )
    ask(server, "title this", model="claude-haiku-4-5")
    record = last(sink, 5)
    assert (record.route, record.backend_model) == ("background", "side-model")
    assert asked_models(fakes["routes"]) == [
        "vision-model",
        "thinker-model",
        "agent-model",
        "side-model",
    ]
    assert asked_models(fakes["main"]) == ["fake-model"]


def test_a_long_prompt_goes_where_its_loaded_window_holds_it(
    routed: tuple[dict[str, FakeBackend], GatewayServer, RecordSink],
) -> None:
    fakes, server, sink = routed
    ask(server, "word " * 6000)
    record = last(sink, 1)
    assert record.route == "long_context"
    assert record.route_reason is not None and record.route_reason.startswith("prompt of 6,0")
    # "long-model" is on both; only the wide one's loaded window holds the prompt.
    assert (record.backend, record.backend_model) == ("wide", "long-model")
    assert [(a.backend, a.outcome) for a in record.attempts] == [("wide", "ok")]
    assert not fakes["narrow"].chat_requests and not fakes["main"].chat_requests
