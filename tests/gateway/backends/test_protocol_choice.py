"""The one place a request's protocol is chosen: the backend's (the table's or the config's), or
Ollama's /api/chat for a request bigger than the loaded context."""

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
    protocol, why = choice.choose(info, model, needed=8192)
    assert type(protocol) is cls and protocol.name == decided and why is None
    # One object per protocol, shared by every request of the gateway.
    assert choice.choose(info, model, needed=100)[0] is protocol is choice.by_name(decided)


@pytest.mark.parametrize("decided", ["openai", "anthropic", "ollama"])
def test_an_ollama_request_beyond_the_loaded_context_goes_through_api_chat(decided: str) -> None:
    choice = ProtocolChoice()
    info = BackendInfo("b", "ollama", URL, protocol=decided)
    model = ModelInfo("b", "m", context_window=8192, max_context=131072)
    protocol, why = choice.choose(info, model, needed=8193)
    assert protocol is choice.ollama
    assert why == "sent through Ollama's /api/chat: it needs a 8193-token context"


@pytest.mark.parametrize("kind", ["lmstudio", "llamacpp", "vllm"])
def test_other_servers_keep_their_protocol_however_big_the_request(kind: str) -> None:
    choice = ProtocolChoice()
    info = BackendInfo("b", kind, URL, protocol="anthropic")
    model = ModelInfo("b", "m", context_window=8192)
    assert choice.choose(info, model, needed=100_000) == (choice.anthropic, None)


def test_an_ollama_model_with_no_known_context_keeps_the_backends_protocol() -> None:
    choice = ProtocolChoice()
    info = BackendInfo("b", "ollama", URL, protocol="anthropic")
    assert choice.choose(info, ModelInfo("b", "m"), needed=100_000) == (choice.anthropic, None)
    assert choice.choose(info, None, needed=100_000) == (choice.anthropic, None)


def test_a_backend_the_catalogue_does_not_know_gets_chat_completions() -> None:
    choice = ProtocolChoice()
    assert choice.choose(None, None, needed=0) == (choice.openai, None)


def test_two_gateways_do_not_share_what_their_protocols_remember() -> None:
    first, second = ProtocolChoice(), ProtocolChoice()
    first.openai.refuses_stream_options.add("b")
    assert second.openai.refuses_stream_options == set()
