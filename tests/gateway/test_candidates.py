"""A request's choices: a role's model with its replicas, then its fallbacks, then the backends'
fallbacks; a named backend pinned."""

from __future__ import annotations

from typing import Any

from gateway.backends.catalogue import BackendInfo, CatalogueSnapshot, ModelInfo
from gateway.candidates import Choice, expand, fits, role_routes
from gateway.config import GatewayConfig
from gateway.routing import ModelIndex, resolve

INDEX = ModelIndex(
    {
        "one": ("qwen3", "gemma"),
        "two": ("qwen3", "gemma"),
        "ollama": ("qwen3:latest", "llama3"),
        "spare": ("mistral",),
    }
)


def config(**fields: Any) -> GatewayConfig:
    backends = [{"id": b, "url": f"http://{b}:1/v1"} for b in INDEX.models]
    return GatewayConfig.model_validate({"backends": backends, "discover": False, **fields})


def choices(asked: str, cfg: GatewayConfig) -> list[tuple[Choice, ...]]:
    route = resolve(asked, cfg, INDEX)
    return expand(role_routes(route, cfg, INDEX), cfg, INDEX)


def test_a_model_served_by_two_backends_has_both_as_replicas() -> None:
    assert choices("claude-sonnet-5-5", config(big="gemma")) == [
        (Choice("one", "gemma"), Choice("two", "gemma"))
    ]


def test_a_named_backend_is_pinned() -> None:
    assert choices("claude-sonnet-5-5", config(big="two:gemma")) == [(Choice("two", "gemma"),)]


def test_role_fallbacks_then_backend_fallbacks_each_once() -> None:
    cfg = config(
        big="one:gemma",
        routes={"fallbacks": {"big": ["spare:mistral", "one:gemma"]}},
        backends=[
            {"id": "one", "url": "http://one:1/v1", "fallbacks": ["ollama", "spare"]},
            {"id": "two", "url": "http://two:1/v1"},
            {"id": "ollama", "url": "http://ollama:1/v1"},
            {"id": "spare", "url": "http://spare:1/v1"},
        ],
    )
    # gemma is not on ollama: its first model stands in; spare's mistral comes once.
    assert choices("claude-sonnet-5-5", cfg) == [
        (Choice("one", "gemma"),),
        (Choice("ollama", "qwen3:latest"),),
        (Choice("spare", "mistral"),),
    ]


def test_a_fallback_backend_gets_the_same_model_under_its_own_name() -> None:
    cfg = config(
        big="two:qwen3",
        backends=[
            {"id": "two", "url": "http://two:1/v1", "fallbacks": ["ollama"]},
            {"id": "ollama", "url": "http://ollama:1/v1"},
        ],
    )
    assert choices("claude-sonnet-5-5", cfg) == [
        (Choice("two", "qwen3"),),
        (Choice("ollama", "qwen3:latest"),),
    ]


def test_fits_reads_the_loaded_window_and_ollamas_whole_context() -> None:
    snapshot = CatalogueSnapshot(
        backends=(
            BackendInfo("one", "lmstudio", "http://one:1/v1"),
            BackendInfo("ollama", "ollama", "http://ollama:1/v1"),
        ),
        models=(
            ModelInfo("one", "qwen3", context_window=8192, max_context=131072),
            ModelInfo("ollama", "llama3", context_window=4096, max_context=131072),
        ),
    )
    assert fits(snapshot, Choice("one", "qwen3"), 9000) is False
    assert fits(snapshot, Choice("one", "qwen3"), 8000) is True
    assert fits(snapshot, Choice("ollama", "llama3"), 100_000) is True
    assert fits(snapshot, Choice("one", "gemma"), 10) is None
