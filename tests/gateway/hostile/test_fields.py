"""A wrong type in any field of a request, at any depth, is a 400 that names the field: every
top-level field and every field of every block type, on both endpoints that take a request."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.config import BackendConfig, GatewayConfig
from gateway.runner import GatewayServer
from tests.fakes.server import FakeBackend
from tests.gateway.hostile.full import COUNT_FIELDS, FULL

# Free-form objects: anything inside them is the client's own business.
FREE_FORM = {"input", "input_schema", "format", "metadata"}

Path = tuple[str | int, ...]


def paths(value: Any, path: Path = ()) -> Iterator[Path]:
    if path:
        yield path
    if path and path[-1] in FREE_FORM:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*path, index))


def wrong(value: Any) -> Any:
    """A value of another JSON type."""
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, int):
        return "5"
    if isinstance(value, float):
        return "warm"
    if isinstance(value, str):
        return 5
    if isinstance(value, list):
        return {"0": value[0]}
    return [value]


def replaced(path: Path, value: Any, body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


def named(path: Path) -> str:
    # An image source's `type` chooses the kind of source: the error names the source.
    if path[-2:] == ("source", "type"):
        path = path[:-1]
    return ".".join(str(p) for p in path)


CASES = list(paths(FULL))


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[GatewayServer, FakeBackend]]:
    with FakeBackend("lmstudio") as fake:
        config = GatewayConfig(
            port=0,
            backends=[BackendConfig(id="fake", url=fake.url)],
            discover=False,
            big="fake-model",
            small="fake-model",
        )
        gateway = GatewayServer(config)
        gateway.start()
        try:
            yield gateway, fake
        finally:
            gateway.stop()


def test_the_full_request_is_accepted(server: tuple[GatewayServer, FakeBackend]) -> None:
    gateway, _ = server
    assert httpx.post(f"{gateway.url}/v1/messages", json=FULL, timeout=10).status_code == 200
    count = {k: v for k, v in FULL.items() if k in COUNT_FIELDS}
    response = httpx.post(f"{gateway.url}/v1/messages/count_tokens", json=count, timeout=10)
    assert response.status_code == 200


@pytest.mark.parametrize("path", CASES, ids=lambda path: ".".join(map(str, path)))
def test_a_wrong_type_is_400_naming_the_field(
    path: Path, server: tuple[GatewayServer, FakeBackend]
) -> None:
    gateway, fake = server
    asked = len(fake.chat_requests)
    targets = [("/v1/messages", FULL)]
    if path[0] in COUNT_FIELDS:
        count = {k: v for k, v in FULL.items() if k in COUNT_FIELDS}
        targets.append(("/v1/messages/count_tokens", count))
    for endpoint, body in targets:
        node: Any = body
        for key in path:
            node = node[key]
        response = httpx.post(
            f"{gateway.url}{endpoint}", json=replaced(path, wrong(node), body), timeout=10
        )
        assert response.status_code == 400, (endpoint, response.text)
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"].startswith(named(path) + ":"), (endpoint, error["message"])
        assert response.headers["x-should-retry"] == "false"
    assert len(fake.chat_requests) == asked
