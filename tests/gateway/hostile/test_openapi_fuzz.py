"""Schemathesis against the gateway's OpenAPI document: generated calls to every route of a
live in-process gateway with a fake backend behind it, none answered with a 5xx, a hang or a
traceback. The served document says only "a JSON object" for the request bodies; a second run
puts the parser's own JSON schema there, so that generated requests also reach the backend."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import TypeAdapter
from schemathesis.checks import not_a_server_error

from gateway.config import BackendConfig, GatewayConfig
from gateway.runner import GatewayServer
from gateway.schemas.anthropic import CountTokensRequest, MessagesRequest
from gateway.server import create_app

FUZZ = settings(
    max_examples=40,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# What the gateway serves at /openapi.json, built without serving it (the lazy fixture loader
# of schemathesis does not run on this pytest).
SERVED = create_app(GatewayConfig()).openapi()


ROUTED = ["claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-1", "fake-model"]


def with_request_schemas(document: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for path, shape in (
        ("/v1/messages", MessagesRequest),
        ("/v1/messages/count_tokens", CountTokensRequest),
    ):
        schema = TypeAdapter(shape).json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        # Names that route, so that well-formed requests go all the way to the backend.
        schema["properties"]["model"] = {"type": "string", "enum": ROUTED}
        body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        body["schema"] = schema
    return document


served = schemathesis.openapi.from_dict(SERVED)
typed = schemathesis.openapi.from_dict(with_request_schemas(SERVED)).include(method="POST")


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayServer]:
    from tests.fakes.server import FakeBackend

    with FakeBackend("lmstudio") as fake:
        config = GatewayConfig(
            port=0,
            backends=[BackendConfig(id="fake", url=fake.url)],
            discover=False,
            big="fake-model",
            small="fake-model",
        )
        server = GatewayServer(config)
        server.start()
        try:
            yield server
        finally:
            server.stop()


def check(case: Any, gateway: GatewayServer) -> int:
    response = case.call(base_url=gateway.url, timeout=10)
    case.validate_response(response, checks=[not_a_server_error])
    assert "Traceback" not in response.text
    if response.status_code >= 400 and case.method != "HEAD":
        body = response.json()
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
    status: int = response.status_code
    return status


@served.parametrize()
@FUZZ
def test_no_call_to_the_served_document_gets_a_5xx(case: Any, gateway: GatewayServer) -> None:
    check(case, gateway)


@typed.parametrize()
@FUZZ
def test_no_typed_request_gets_a_5xx(case: Any, gateway: GatewayServer) -> None:
    check(case, gateway)
