"""The one place a request's protocol is chosen: the backend's (the table's or the config's), or
Ollama's /api/chat for a model whose context the gateway sets (chosen once per model)."""

from __future__ import annotations

import pytest

from gateway.backends.catalogue import BackendInfo, ModelInfo
from gateway.backends.protocol_choice import ProtocolChoice
from gateway.upstream.anthropic_messages import AnthropicMessages
from gateway.upstream.ollama_chat import OllamaChat
from gateway.upstream.openai_chat import OpenAIChat
from gateway.upstream.protocol import UpstreamProtocol

URL = "http://127.0.0.1:11434/v1"


@pytest.mark.parametrize(
    ("decided", "cls"),
    [("openai", OpenAIChat), ("anthropic", AnthropicMessages), ("ollama", OllamaChat)],
)
@pytest.mark.parametrize("kind", ["lmstudio", "ollama", "llamacpp", "vllm"])
def test_a_request_that_fits_speaks_the_backends_protocol(
    kind: str, decided: str, cls: type[UpstreamProtocol]
) -> None:
    choice = ProtocolChoice()
    info = BackendInfo("b", kind, URL, protocol=decided)
    model = ModelInfo("b", "m", context_window=8192)
    protocol, why, _ = choice.choose(info, model, needed=8192)
    assert type(protocol) is cls and protocol.name == decided and why is None
    # One object per protocol, shared by every request of the gateway.
    assert choice.choose(info, model, needed=100)[0] is protocol is choice.by_name(decided)


@pytest.mark.parametrize("decided", ["openai", "anthropic", "ollama"])
def test_an_ollama_request_beyond_the_loaded_context_goes_through_api_chat(decided: str) -> None:
    choice = ProtocolChoice()
    info = BackendInfo("b", "ollama", URL, protocol=decided)
    model = ModelInfo("b", "m", context_window=8192, max_context=131072)
    protocol, why, num_ctx = choice.choose(info, model, needed=8193)
    assert protocol is choice.ollama
    # Not the next power of two but the model's maximum: the session grows into it with no
    # second reload.
    assert num_ctx == 131072
    if decided == "ollama":
        assert why is None
    else:
        assert why == (
            "sent through Ollama's /api/chat with num_ctx 131072, as every request to this "
            "model: another context (or none) reloads it"
        )


@pytest.mark.parametrize("decided", ["openai", "anthropic", "ollama"])
def test_once_chosen_an_ollama_context_holds_for_every_request_to_the_model(
    decided: str,
) -> None:
    """A side request that fits the context the catalogue last saw still states the chosen
    one: going back to Ollama's automatic context would reload the model."""
    choice = ProtocolChoice()
    info = BackendInfo("b", "ollama", URL, protocol=decided)
    model = ModelInfo("b", "m", loaded=True, context_window=4096, max_context=131072)
    assert choice.choose(info, model, needed=60_000)[1:] != (None, None)
    for needed in (100, 4096, 60_000, 131_072, 200_000):
        assert choice.choose(info, model, needed=needed)[::2] == (choice.ollama, 131072)
    # Another model on the backend is its own matter.
    other = ModelInfo("b", "n", loaded=True, context_window=4096, max_context=131072)
    assert choice.choose(info, other, needed=100).num_ctx in (None, 4096)


def test_a_configured_load_context_is_the_one_stated() -> None:
    """What the app loads the model with (`load_context`), bounded by the model's maximum."""
    choice = ProtocolChoice()
    info = BackendInfo("b", "ollama", URL, protocol="anthropic")
    model = ModelInfo("b", "m", loaded=True, context_window=4096, max_context=131072)
    assert choice.choose(info, model, needed=100, configured=32768)[::2] == (choice.ollama, 32768)
    assert choice.choose(info, model, needed=100, configured=10**6).num_ctx == 131072
    assert choice.contexts.window("b", model, None) == 131072


def test_an_unloaded_ollama_model_is_loaded_once_with_the_chosen_context() -> None:
    """Left to Ollama, a small first request would load it with the automatic context and the
    next large one reload it."""
    choice = ProtocolChoice()
    info = BackendInfo("b", "ollama", URL, protocol="anthropic")
    model = ModelInfo("b", "m", loaded=False, max_context=65536)
    assert choice.choose(info, model, needed=10)[::2] == (choice.ollama, 65536)
    unknown = ModelInfo("b", "u", loaded=False)
    assert choice.choose(info, unknown, needed=5000).num_ctx == 8192
    assert choice.choose(info, unknown, needed=100).num_ctx == 8192
    # Only a model whose maximum Ollama does not say grows, and only when outgrown.
    assert choice.choose(info, unknown, needed=9000).num_ctx == 16384


@pytest.mark.parametrize("kind", ["lmstudio", "llamacpp", "vllm"])
def test_other_servers_keep_their_protocol_however_big_the_request(kind: str) -> None:
    choice = ProtocolChoice()
    info = BackendInfo("b", kind, URL, protocol="anthropic")
    model = ModelInfo("b", "m", context_window=8192)
    assert choice.choose(info, model, needed=100_000) == (choice.anthropic, None, None)


def test_an_ollama_model_with_no_known_context_keeps_the_backends_protocol() -> None:
    choice = ProtocolChoice()
    info = BackendInfo("b", "ollama", URL, protocol="anthropic")
    unknown = ModelInfo("b", "m")
    assert choice.choose(info, unknown, needed=100_000) == (choice.anthropic, None, None)
    assert choice.choose(info, None, needed=100_000) == (choice.anthropic, None, None)


def test_a_backend_the_catalogue_does_not_know_gets_chat_completions() -> None:
    choice = ProtocolChoice()
    assert choice.choose(None, None, needed=0) == (choice.openai, None, None)


def test_two_gateways_do_not_share_what_their_protocols_remember() -> None:
    first, second = ProtocolChoice(), ProtocolChoice()
    first.openai.refuses_stream_options.add("b")
    assert second.openai.refuses_stream_options == set()
