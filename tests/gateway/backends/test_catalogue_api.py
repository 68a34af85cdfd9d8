"""The gateway on the catalogue: discovered servers in `/v1/models` and `/health`, a request for
a model's exact name reaching the backend that has it, roles naming catalogued models."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import pytest

from gateway.backends.catalogue import CatalogueSnapshot
from gateway.runner import GatewayServer
from tests.fakes import Text
from tests.fakes.server import FakeBackend

Start = Callable[..., FakeBackend]
Gateway = Callable[..., GatewayServer]


def two_servers(fake_backend: Start) -> tuple[FakeBackend, FakeBackend]:
    # Versions whose protocol is "openai": these fakes speak chat completions only.
    lms = fake_backend(
        "lmstudio",
        models=["qwen3-coder-30b", "nomic-embed"],
        context_length=65536,
        rest="v0",
        types={"nomic-embed": "embeddings"},
    )
    ollama = fake_backend("ollama", models=["llama3.2:3b", "gemma3:4b"], version="0.2.8")
    return lms, ollama


def discovering(lms: FakeBackend, ollama: FakeBackend, **extra: Any) -> dict[str, Any]:
    return {
        "backends": [],
        "discover": True,
        "discovery_targets": {"lmstudio": [lms.root_url], "ollama": [ollama.root_url]},
        "big": None,
        "small": None,
        **extra,
    }


def ask(server: GatewayServer, model: str) -> anthropic.types.Message:
    with anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0) as client:
        return client.messages.create(
            model=model, max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )


def test_models_and_health_list_the_catalogue(fake_backend: Start, gateway_server: Gateway) -> None:
    lms, ollama = two_servers(fake_backend)
    server = gateway_server("unused", **discovering(lms, ollama))
    listed = httpx.get(f"{server.url}/v1/models?limit=100").json()["data"]
    names = {m["id"]: m["display_name"] for m in listed}
    assert names["claude-local-qwen3-coder-30b"] == (
        "qwen3-coder-30b on lmstudio, loaded, 64k context (LM Gate)"
    )
    assert names["claude-local-llama3-2-3b"] == (
        "llama3.2:3b on ollama, loaded, 4k context (LM Gate)"
    )
    assert names["claude-local-gemma3-4b"] == (
        "gemma3:4b on ollama, not loaded, up to 128k context (LM Gate)"
    )
    # Only what a request may name: no embedding model.
    assert not any("nomic" in i for i in names)
    assert "qwen3-coder-30b" in names["claude-lmgate-sonnet"]  # no big set: the first loaded

    health = httpx.get(f"{server.url}/health").json()
    assert health["status"] == "ok"
    assert [(b["id"], b["kind"], b["status"], b["discovered"]) for b in health["backends"]] == [
        ("lmstudio", "lmstudio", "up", True),
        ("ollama", "ollama", "up", True),
    ]
    assert health["backends"][1]["loaded"] == ["llama3.2:3b"]
    assert health["backends"][1]["version"] == "0.2.8"


def test_a_models_exact_name_reaches_the_backend_that_has_it(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    lms, ollama = two_servers(fake_backend)
    server = gateway_server(
        "unused", **discovering(lms, ollama, big="qwen3-coder-30b", small="ollama:gemma3:4b")
    )
    ollama.script(Text("from ollama"), Text("small from ollama"))
    lms.script(Text("from lm studio"))
    assert ask(server, "llama3.2:3b").content[0].text == "from ollama"  # type: ignore[union-attr]
    assert ask(server, "qwen3-coder-30b").content[0].text == "from lm studio"  # type: ignore[union-attr]
    assert ask(server, "claude-haiku-4-5").content[0].text == "small from ollama"  # type: ignore[union-attr]
    assert [r.body["model"] for r in ollama.chat_requests] == ["llama3.2:3b", "gemma3:4b"]
    assert [r.body["model"] for r in lms.chat_requests] == ["qwen3-coder-30b"]


def test_a_discovered_backend_going_away_is_reprobed_after_a_connection_error(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    lms, ollama = two_servers(fake_backend)
    server = gateway_server(
        "unused", **discovering(lms, ollama, idle_interval=300.0, health_interval=300.0)
    )
    registry = server.registry
    assert registry is not None
    marked_down = threading.Event()

    def seen(snapshot: CatalogueSnapshot) -> None:
        backend = snapshot.backend("ollama")
        if backend is not None and backend.state == "down":
            marked_down.set()

    registry.subscribe(seen)
    ollama.stop()
    with anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0) as client:
        with pytest.raises(anthropic.APIStatusError) as info:
            client.messages.create(
                model="llama3.2:3b", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
    assert info.value.status_code == 503
    # The refresh intervals are five minutes: only probe_soon can have refreshed this soon.
    assert marked_down.wait(10)
    backends = httpx.get(f"{server.url}/health").json()["backends"]
    assert backends[1]["status"] == "down"
    assert backends[1]["models"] == ["llama3.2:3b", "gemma3:4b"]  # kept, not dropped
