"""What the Models page warns about, rule by rule."""

from __future__ import annotations

from typing import Any

from app.model_advice import advise, model_details
from gateway.backends.catalogue import BackendInfo, CatalogueSnapshot, ModelInfo
from gateway.config import GatewayConfig


def snapshot(*models: ModelInfo, kind: str = "lmstudio", **backend: Any) -> CatalogueSnapshot:
    info = BackendInfo("local", kind, "http://127.0.0.1:1234/v1", "up", **backend)
    return CatalogueSnapshot((info,), models)


def model(name: str, **fields: Any) -> ModelInfo:
    defaults: dict[str, Any] = {"loaded": True, "context_window": 131072, "tools": True}
    return ModelInfo("local", name, **{**defaults, **fields})


def texts(
    config: GatewayConfig, catalogue: CatalogueSnapshot, **kw: Any
) -> list[tuple[str, str, str]]:
    return [(a.level, a.roles, a.text) for a in advise(config, catalogue, **kw)]


def test_a_good_choice_gets_no_advice() -> None:
    assert texts(GatewayConfig(), snapshot(model("qwen"))) == []


def test_context_windows_under_32k_are_errors_and_under_64k_warnings() -> None:
    config = GatewayConfig(big="local:big", small="local:small")
    catalogue = snapshot(model("big", context_window=16384), model("small", context_window=40960))
    found = texts(config, catalogue)
    assert found[0][:2] == ("error", "big")
    assert "16k context window" in found[0][2] and "at least 32k" in found[0][2]
    assert found[1][:2] == ("warning", "small")
    assert "40k context window" in found[1][2] and "under 64k" in found[1][2]


def test_the_same_model_in_two_roles_is_one_line() -> None:
    found = texts(GatewayConfig(), snapshot(model("qwen", context_window=8192)))
    assert [(level, roles) for level, roles, _ in found] == [("error", "big and small")]


def test_no_tools_and_no_vision_while_images_are_in_use() -> None:
    catalogue = snapshot(model("plain", tools=False, vision=False))
    assert [t for _, _, t in texts(GatewayConfig(), catalogue)] == [
        "plain on local does not support tools: Claude Code needs them"
    ]
    with_images = texts(GatewayConfig(), catalogue, images_in_use=True)
    assert with_images[-1][2] == "plain on local cannot see images, and your requests have some"


def test_big_and_small_that_cannot_both_stay_loaded() -> None:
    config = GatewayConfig(big="local:a", small="local:b")
    one_loaded = snapshot(model("a"), model("b", loaded=False, context_window=None))
    found = texts(config, one_loaded)
    assert found[-1][:2] == ("warning", "big and small")
    assert "reloads on every switch" in found[-1][2]
    both_loaded = snapshot(model("a"), model("b"))
    assert texts(config, both_loaded) == []
    # llama.cpp serves one model at a time, whatever it reports.
    assert "reloads" in texts(config, snapshot(model("a"), model("b"), kind="llamacpp"))[-1][2]
    # A remote provider keeps everything "loaded".
    assert texts(config, snapshot(model("a"), model("b", loaded=False), remote=True)) == [
        ("warning", "small", "b on local is not loaded: the first request waits for it")
    ]


def test_a_backend_that_is_down_or_absent() -> None:
    down = CatalogueSnapshot(
        (BackendInfo("local", "ollama", "http://127.0.0.1:11434/v1", "down"),),
        (model("qwen"),),
    )
    assert texts(GatewayConfig(), down)[0] == ("error", "big and small", "local is not answering")
    assert texts(GatewayConfig(), CatalogueSnapshot())[0][0] == "error"


def test_model_details_read_as_the_dropdown_shows_them() -> None:
    assert model_details(model("a", vision=True, thinking=True)) == (
        "loaded · 128k context · tools · vision · thinking"
    )
    assert model_details(model("a", loaded=False, context_window=None, max_context=32768)) == (
        "not loaded · up to 32k context · tools"
    )
    assert model_details(ModelInfo("local", "x", tools=False)) == "no tools"
