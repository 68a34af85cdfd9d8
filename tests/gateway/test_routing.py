"""Routing: which backend model serves a client's model name, and which rule said so."""

from __future__ import annotations

import pytest

from gateway.config import BackendConfig, GatewayConfig
from gateway.errors import BackendUnavailable, NotFound
from gateway.routing import (
    FAMILY_ROLES,
    ROLE_MODELS,
    ROLES,
    ModelIndex,
    Route,
    catalogue_id,
    resolve,
)

INDEX = ModelIndex({"lms": ("qwen3-coder-30b", "gemma-3-4b"), "ollama": ("llama3.2:3b",)})


def config(**kw: object) -> GatewayConfig:
    base: dict[str, object] = {
        "backends": [BackendConfig(id="lms"), BackendConfig(id="ollama", url="http://x:11434")],
        "big": "qwen3-coder-30b",
        "small": "gemma-3-4b",
    }
    base.update(kw)
    return GatewayConfig.model_validate(base)


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("claude-sonnet-4-6", Route("lms", "qwen3-coder-30b", "big", "big")),
        ("claude-sonnet-4-6[1m]", Route("lms", "qwen3-coder-30b", "big", "big")),
        ("claude-opus-4-8", Route("lms", "qwen3-coder-30b", "opus", "big")),
        ("claude-haiku-4-5-20251001", Route("lms", "gemma-3-4b", "haiku", "small")),
        ("claude-3-5-haiku-latest", Route("lms", "gemma-3-4b", "haiku", "small")),
        ("claude-fable-5", Route("lms", "qwen3-coder-30b", "big", "big")),
        ("anthropic/claude-x", Route("lms", "qwen3-coder-30b", "big", "big")),
        ("claude-anything", Route("lms", "qwen3-coder-30b", "big", "big")),
        ("sonnet", Route("lms", "qwen3-coder-30b", "big", "big")),
        ("llama3.2:3b", Route("ollama", "llama3.2:3b", "exact")),
        ("gemma-3-4b", Route("lms", "gemma-3-4b", "exact")),
        # A named backend (or a catalogue id, which names one) is pinned: no replica stands in.
        ("ollama:some-unlisted", Route("ollama", "some-unlisted", "exact", pinned=True)),
        (catalogue_id("llama3.2:3b"), Route("ollama", "llama3.2:3b", "catalogue", pinned=True)),
    ],
)
def test_rules(asked: str, expected: Route) -> None:
    assert resolve(asked, config(), INDEX) == expected


def test_opus_set_apart() -> None:
    route = resolve("claude-opus-4-8", config(opus="ollama:llama3.2:3b"), INDEX)
    assert route == Route("ollama", "llama3.2:3b", "opus", "opus", pinned=True)


def test_alias_wins_over_rules() -> None:
    cfg = config(aliases={"claude-haiku-4-5": "big", "fast": "ollama:llama3.2:3b"})
    assert resolve("claude-haiku-4-5", cfg, INDEX).model == "qwen3-coder-30b"
    assert resolve("claude-haiku-4-5", cfg, INDEX).rule == "alias"
    assert resolve("fast", cfg, INDEX) == Route("ollama", "llama3.2:3b", "alias", pinned=True)


def test_unknown_name_is_404_listing_valid_names() -> None:
    with pytest.raises(NotFound) as info:
        resolve("gpt-4o", config(), INDEX)
    assert "gpt-4o" in info.value.message
    assert "llama3.2:3b" in info.value.message and "claude-local-" in info.value.message


def test_unset_models_use_first_listed_model() -> None:
    route = resolve("claude-haiku-4-5", config(big=None, small=None), INDEX)
    # On the first backend: its fallbacks, not replicas of the model, stand in for it.
    assert route == Route("lms", "qwen3-coder-30b", "haiku", "small", pinned=True)


def test_small_falls_back_to_big() -> None:
    assert resolve("claude-haiku-4-5", config(small=None), INDEX).model == "qwen3-coder-30b"


def test_nothing_known_and_nothing_chosen_is_503_naming_the_backend() -> None:
    with pytest.raises(BackendUnavailable) as info:
        resolve("claude-sonnet-4-6", config(big=None, small=None), ModelIndex({}))
    assert "backends: lms, ollama" in info.value.message and "--big" in info.value.message


def test_catalogue_ids_are_claude_ids_and_unique() -> None:
    index = ModelIndex({"a": ("Qwen/Qwen3 8B",), "b": ("qwen-qwen3-8b",)})
    table = index.catalogue()
    assert all(cid.startswith("claude-") for cid in table)
    assert sorted(table.values()) == [("a", "Qwen/Qwen3 8B"), ("b", "qwen-qwen3-8b")]


def test_a_bare_ollama_name_reaches_the_tagged_model() -> None:
    index = ModelIndex({"ollama": ("qwen3:latest", "llama3.2:3b")})
    cfg = GatewayConfig.model_validate(
        {"backends": [BackendConfig(id="ollama", url="http://x:11434")], "big": "qwen3"}
    )
    assert resolve("claude-sonnet-4-6", cfg, index) == Route("ollama", "qwen3:latest", "big", "big")
    assert resolve("qwen3", cfg, index) == Route("ollama", "qwen3:latest", "exact")
    assert resolve("ollama:qwen3", cfg, index) == Route(
        "ollama", "qwen3:latest", "exact", pinned=True
    )
    assert resolve("llama3.2:3b", cfg, index).model == "llama3.2:3b"


@pytest.mark.parametrize("role", ROLES)
def test_each_roles_model_name_reaches_that_role(role: str) -> None:
    cfg = config(opus="ollama:llama3.2:3b")
    assert resolve(ROLE_MODELS[role], cfg, INDEX).role == role


@pytest.mark.parametrize(("family", "role"), list(FAMILY_ROLES.items()))
def test_each_family_reaches_its_role(family: str, role: str) -> None:
    cfg = config(opus="ollama:llama3.2:3b")
    assert resolve(f"claude-{family}-9", cfg, INDEX).role == role
