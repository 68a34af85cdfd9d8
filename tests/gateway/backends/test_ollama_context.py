"""The num_ctx chosen once per Ollama model: a 256k model is not loaded at 256k unless a request
needs it, the user's choice wins, and a session that outgrows the choice grows it once."""

from __future__ import annotations

import pytest

from gateway.backends.catalogue import ModelInfo
from gateway.backends.ollama_context import DEFAULT_CAP, OllamaContexts


def _model(max_context: int | None, window: int | None = 4096) -> ModelInfo:
    return ModelInfo(
        "ollama", "coder:latest", loaded=True, context_window=window, max_context=max_context
    )


@pytest.mark.parametrize(
    ("max_context", "expected"),
    [(262144, DEFAULT_CAP), (40960, 40960), (131072, 131072)],
)
def test_without_a_choice_the_context_is_the_trained_maximum_up_to_the_cap(
    max_context: int, expected: int
) -> None:
    contexts = OllamaContexts()
    assert contexts.choose("ollama", _model(max_context), 60_000, None) == expected
    # Side requests and later turns state the same number, whatever their size.
    assert contexts.choose("ollama", _model(max_context), 3_000, None) == expected
    assert contexts.choose("ollama", _model(max_context), 90_000, None) == expected


def test_a_request_past_the_cap_grows_the_context_once_within_the_maximum() -> None:
    contexts = OllamaContexts()
    big = _model(262144)
    assert contexts.choose("ollama", big, 50_000, None) == DEFAULT_CAP
    assert contexts.choose("ollama", big, 150_000, None) == 262144
    assert contexts.choose("ollama", big, 20_000, None) == 262144


def test_the_users_load_context_wins_within_the_maximum() -> None:
    contexts = OllamaContexts()
    assert contexts.choose("ollama", _model(262144), 10_000, 65536) == 65536
    assert contexts.choose("ollama", _model(32768), 10_000, 65536) == 32768


def test_a_model_loaded_with_enough_context_is_left_alone() -> None:
    contexts = OllamaContexts()
    assert contexts.choose("ollama", _model(262144, window=65536), 50_000, None) is None
