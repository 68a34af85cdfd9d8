"""Remote presets: every provider gets the request shape its docs require (auth header, path,
query), checked by a fake provider on loopback; and what a broken preset config says."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest

from gateway.backends.connection import connection_for
from gateway.backends.presets import KINDS, PRESETS, is_local_url
from gateway.backends.registry import Registry
from gateway.config import BackendConfig, GatewayConfig
from tests.fakes.asgi import ServedApp
from tests.fakes.server import Receive, Scope, Send

KEY = "sk-test-0123"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class Provider:
    """A remote API on loopback: records each request and answers chat, models and messages."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.server = ServedApp(self.app)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        query = dict(parse_qsl(scope["query_string"].decode()))
        self.seen.append(Seen(scope["method"], scope["path"], query, headers))
        path: str = scope["path"]
        if path.endswith("/chat/completions"):
            body: Any = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "hi"},
                        "finish_reason": "stop",
                    }
                ],
            }
        elif path.endswith("/models"):
            body = {"object": "list", "data": [{"id": "remote-model", "object": "model"}]}
        elif path.endswith("/messages"):
            body = {"type": "message", "role": "assistant", "content": []}
        else:
            body = {"error": {"message": "not found"}}
        data = orjson.dumps(body)
        await send(
            {
                "type": "http.response.start",
                "status": 200 if "error" not in body else 404,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": data})


@pytest.fixture
def provider() -> Iterator[Provider]:
    fake = Provider()
    fake.server.start()
    yield fake
    fake.server.stop()


def base_path(kind: str) -> str:
    """Where the preset's API lives under its host; the user's URL for those without one."""
    preset = PRESETS[kind]
    if preset.base_url is not None:
        return urlsplit(preset.base_url).path
    return {
        "azure": "/openai/deployments/gpt-4o-prod",
        "custom": "/compat/v1",
        "anthropic-compatible": "/anthropic/v1",
    }[kind]


# What each provider's docs require of a request: the auth header and its value, other headers,
# the query. A preset without its row here fails test_every_preset_has_a_shape.
SHAPES: dict[str, tuple[str, str, dict[str, str], dict[str, str]]] = {
    "openai": ("authorization", f"Bearer {KEY}", {}, {}),
    "openrouter": ("authorization", f"Bearer {KEY}", {"x-title": "LM Gate"}, {}),
    "groq": ("authorization", f"Bearer {KEY}", {}, {}),
    "gemini": ("authorization", f"Bearer {KEY}", {}, {}),
    "deepseek": ("authorization", f"Bearer {KEY}", {}, {}),
    "moonshot": ("authorization", f"Bearer {KEY}", {}, {}),
    "anthropic-compatible": ("x-api-key", KEY, {}, {}),
    "mistral": ("authorization", f"Bearer {KEY}", {}, {}),
    "azure": ("api-key", KEY, {}, {"api-version": "2024-10-21"}),
    "custom": ("authorization", f"Bearer {KEY}", {}, {}),
}


def test_every_preset_has_a_shape() -> None:
    assert set(SHAPES) == set(PRESETS)


async def send_through(config: GatewayConfig) -> None:
    """What the gateway sends: the catalogue refresh (model list) and one chat request."""
    registry = Registry(config, api_keys={"remote": KEY}, transport="httpx")
    try:
        await registry.refresh()
        upstream = registry.upstream("remote")
        if registry.info("remote").protocol == "anthropic":
            response = await upstream.client.post(upstream.url("messages"), json={})
            response.raise_for_status()
        else:
            body = {"model": "remote-model", "messages": [{"role": "user", "content": "hi"}]}
            async with upstream.chat(body) as response:
                await response.aread()
    finally:
        await registry.stop()


@pytest.mark.parametrize("kind", sorted(PRESETS))
def test_request_shape(kind: str, provider: Provider) -> None:
    header, value, extra, query = SHAPES[kind]
    url = provider.server.root_url + base_path(kind)
    config = GatewayConfig(
        discover=False, backends=[BackendConfig(id="remote", kind=kind, url=url)]
    )
    asyncio.run(send_through(config))
    preset = PRESETS[kind]
    endpoint = "messages" if preset.protocol == "anthropic" else "chat/completions"
    paths = [(s.method, s.path) for s in provider.seen]
    expected = [("POST", f"{base_path(kind)}/{endpoint}")]
    if preset.lists_models:
        expected.insert(0, ("GET", f"{base_path(kind)}/models"))
    assert paths == expected
    for seen in provider.seen:
        assert seen.headers.get(header) == value
        for other in ("authorization", "api-key", "x-api-key"):
            if other != header:
                assert other not in seen.headers, f"{kind} also sent {other}"
        for name, wanted in extra.items():
            assert seen.headers.get(name) == wanted
        assert seen.query == query


def test_custom_provider_header_and_extra_headers(provider: Provider) -> None:
    backend = BackendConfig(
        id="remote",
        kind="custom",
        url=provider.server.root_url + "/compat/v1",
        auth_header="X-Api-Token",
        headers={"X-Org": "acme"},
        max_output_tokens=4096,
        can_stream=False,
    )
    asyncio.run(send_through(GatewayConfig(discover=False, backends=[backend])))
    for seen in provider.seen:
        assert seen.headers["x-api-token"] == KEY  # the bare key in a header of its own
        assert "authorization" not in seen.headers
        assert seen.headers["x-org"] == "acme"


def test_azure_api_version_from_the_config(provider: Provider) -> None:
    url = provider.server.root_url + "/openai/deployments/prod"
    backend = BackendConfig(id="remote", kind="azure", url=url, api_version="2025-04-01-preview")
    asyncio.run(send_through(GatewayConfig(discover=False, backends=[backend])))
    assert [s.query for s in provider.seen] == [{"api-version": "2025-04-01-preview"}]


def test_preset_facts_for_the_request_path() -> None:
    config = GatewayConfig(
        discover=False,
        backends=[
            BackendConfig(id="ds", kind="deepseek"),
            BackendConfig(id="oai", kind="openai", retries=5),
            BackendConfig(id="local", url="http://127.0.0.1:9/v1", concurrency=1),
        ],
    )
    registry = Registry(config)
    deepseek, openai, local = (registry.info(i) for i in ("ds", "oai", "local"))
    assert deepseek.max_output_tokens == 8192 and deepseek.remote and deepseek.retries == 2
    assert deepseek.url == "https://api.deepseek.com/v1" and deepseek.protocol == "openai"
    assert openai.retries == 5
    assert not local.remote and local.retries == 0 and local.concurrency == 1
    assert PRESETS["deepseek"].reasoning_roundtrip and PRESETS["gemini"].clean_json_schema
    assert registry.info("oai").display_name == "OpenAI"
    reasoning = PRESETS["openai"]
    assert reasoning.uses_max_completion_tokens("o3-mini")
    assert reasoning.uses_max_completion_tokens("gpt-5.1")
    assert not reasoning.uses_max_completion_tokens("gpt-4o")
    assert PRESETS["moonshot"].protocol == "anthropic"


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        (BackendConfig(id="a", kind="azure"), "openai.azure.com/openai/deployments/DEPLOYMENT"),
        (BackendConfig(id="c", kind="custom"), "set url to the provider's OpenAI base URL"),
        (BackendConfig(id="l"), "set url to the server's URL"),
    ],
)
def test_a_preset_without_its_url_says_what_to_set(backend: BackendConfig, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        connection_for(backend)
    registry = Registry(GatewayConfig(discover=False, backends=[backend]))
    info = registry.info(backend.id)
    assert info.state == "down" and info.error is not None and message in info.error


def test_a_local_kind_without_a_url_is_at_its_default_place() -> None:
    assert connection_for(BackendConfig(kind="ollama")).url == "http://127.0.0.1:11434/v1"
    assert connection_for(BackendConfig(kind="lmstudio")).remote is False


def test_unknown_kind_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="unknown kind 'openia'"):
        BackendConfig(kind="openia")
    assert "auto" in KINDS and "ollama" in KINDS and "azure" in KINDS


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:1234/v1", True),
        ("http://localhost:11434", True),
        ("http://192.168.1.20:8080", True),
        ("http://gpu-box:8000", True),
        ("http://studio.local:1234", True),
        ("https://api.openai.com/v1", False),
        ("http://8.8.8.8/v1", False),
    ],
)
def test_is_local_url(url: str, local: bool) -> None:
    assert is_local_url(url) is local
