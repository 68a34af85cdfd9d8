"""Through the gateway to a REAL llama.cpp server (Gemma 3 270M on the CPU): the official SDK gets
real answers, streamed and not."""

from __future__ import annotations

from collections.abc import Callable

import anthropic
import pytest

from gateway.runner import GatewayServer
from tests.live.llama_server import MODEL_ALIAS, LlamaServer

pytestmark = pytest.mark.live
Gateway = Callable[..., GatewayServer]


@pytest.mark.parametrize("protocol", ["openai"])
def test_sdk_gets_a_real_answer(
    protocol: str, llama_server: LlamaServer, gateway_server: Gateway
) -> None:
    server = gateway_server(llama_server.url, big=MODEL_ALIAS, small=MODEL_ALIAS)
    with anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0) as client:
        message = client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=40,
            messages=[{"role": "user", "content": "Say hello."}],
        )
        assert message.stop_reason == "end_turn"
        text = message.content[0].text  # type: ignore[union-attr]
        assert text.startswith("Hello") and text.endswith(".")
        assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
        with client.messages.stream(
            model="claude-haiku-4-5",
            max_tokens=40,
            system="Be brief.",
            messages=[{"role": "user", "content": "Greet me."}],
        ) as stream:
            final = stream.get_final_message()
        assert final.content[0].text.startswith("Hello")  # type: ignore[union-attr]
        assert final.stop_reason == "end_turn"
