"""Nothing dropped in silence: what the gateway answers itself (`context_management`'s applied
edits) and the record's list of every field or block it dropped, mapped or emulated, for a real
Claude Code 2.1.332 request."""

from __future__ import annotations

from typing import Any

import anthropic
import orjson
import pytest
from anthropic.types.beta import BetaContextManagementConfigParam

from tests.fakes.replies import Text
from tests.gateway.api.client import (
    NATIVE,
    Gateway,
    Start,
    error_of,
    last_record,
    message_of,
    post,
    start_pair,
)
from tests.gateway.translate.grammar import parse_sse
from tests.paths import REPO

FIXTURES = REPO / "tests" / "fixtures" / "claude-code"
CLEAR_THINKING: BetaContextManagementConfigParam = {
    "edits": [{"type": "clear_thinking_20251015", "keep": "all"}]
}


def _fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads((FIXTURES / f"claude-code-{name}.json").read_bytes())[
        "body"
    ]
    return body


@pytest.mark.parametrize("flavour", ["lmstudio", "llamacpp"])
def test_context_management_is_answered_with_no_applied_edits(
    fake_backend: Start, gateway_server: Gateway, flavour: str
) -> None:
    options = NATIVE["llamacpp"] if flavour == "llamacpp" else {}
    _, server, sink = start_pair(fake_backend, gateway_server, flavour, fake=options)
    with anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0) as client:
        whole = client.beta.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=64,
            messages=[{"role": "user", "content": "hi"}],
            context_management=CLEAR_THINKING,
        )
        assert whole.context_management is not None
        assert whole.context_management.applied_edits == []
        with client.beta.messages.stream(
            model="claude-sonnet-4-6",
            max_tokens=64,
            messages=[{"role": "user", "content": "hi"}],
            context_management=CLEAR_THINKING,
        ) as stream:
            streamed = stream.get_final_message()
        assert streamed.context_management is not None
        assert streamed.context_management.applied_edits == []
    record = last_record(sink, 2)
    assert (
        "context_management answered by the gateway: no edits applied (clear_thinking_20251015)"
        in record.changes
    )
    assert not any("context_management" in warning for warning in record.warnings)


def test_the_final_message_delta_carries_it_at_its_top_level(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    _, server, _ = start_pair(fake_backend, gateway_server, "lmstudio")
    payload = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
    }
    response = post(server, payload)
    events = parse_sse(response.content)
    (delta,) = [data for name, data in events if name == "message_delta"]
    assert delta["context_management"] == {"applied_edits": []}
    no_edits = post(server, {**payload, "context_management": None})
    assert all("context_management" not in data for _, data in parse_sse(no_edits.content))


def test_a_claude_code_turn_lists_everything_the_gateway_changed(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    backend, server, sink = start_pair(
        fake_backend, gateway_server, "lmstudio", fake={"context_length": 131072}
    )
    backend.script(Text(text="Done."))
    message_of(post(server, _fixture("2.1.332-print-bash-roundtrip-turn2")))
    record = last_record(sink)
    # Each field or block of that request the backend did not get as sent, once.
    assert list(record.changes) == [
        "max_tokens capped from 128000 to 119947: the model's window is 131072 and the prompt "
        "is about 10113",
        'thinking.display "omitted": no thinking text is sent back',
        "billing header removed",
        "1 system message merged into user turns",
        "1 deferred or removed tool(s) withheld from the backend",
        "metadata dropped",
        "output_config.effort medium dropped (no known effort setting here)",
        "context_management answered by the gateway: no edits applied (clear_thinking_20251015)",
    ]
    assert list(record.warnings) == []


@pytest.mark.parametrize("flavour", ["lmstudio", "llamacpp"])
def test_the_mcp_connector_is_a_clear_400_on_every_local_protocol(
    fake_backend: Start, gateway_server: Gateway, flavour: str
) -> None:
    options = NATIVE["llamacpp"] if flavour == "llamacpp" else {}
    backend, server, _ = start_pair(fake_backend, gateway_server, flavour, fake=options)
    servers = [{"type": "url", "url": "https://mcp.test/sse", "name": "docs"}]
    payload = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
        "mcp_servers": servers,
    }
    error = error_of(post(server, payload), 400)
    assert error["type"] == "invalid_request_error"
    assert "MCP connector" in error["message"] and "claude mcp add" in error["message"]
    assert backend.chat_requests == []
