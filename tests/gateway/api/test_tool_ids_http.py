"""Tool ids the client can trust: a backend that names every tool call `call_1` (or `toolu_1`) on
every turn, as several local servers do, still gives the client a new `toolu_…` id each time,
and the backend sees those ids in the history, each paired with its result, on all three
protocols, streamed or not."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.replies import Text, ToolCall, ToolCalls
from tests.gateway.api.client import NATIVE, Gateway, Start, body, message_of, post, start_pair

# (flavour, fake options, the path the gateway must use): chat completions, Ollama's /api/chat
# (Ollama 0.3 to 0.32.1), the native Messages API.
PROTOCOLS = {
    "openai": ("lmstudio", {}, "/v1/chat/completions"),
    "ollama": ("ollama", {"version": "0.20.0"}, "/api/chat"),
    "anthropic": ("llamacpp", NATIVE["llamacpp"], "/v1/messages"),
}


def _pairs_seen(path: str, sent: dict[str, Any]) -> list[tuple[str, str]]:
    """(the call as the backend saw it, the result that answered it), in order: by id where the
    protocol has ids, by tool name on /api/chat (which has none)."""
    pairs: list[tuple[str, str]] = []
    messages = sent["messages"]
    if path == "/v1/messages":
        for n, message in enumerate(messages):
            if message["role"] != "assistant" or not isinstance(message["content"], list):
                continue
            calls = [b["id"] for b in message["content"] if b["type"] == "tool_use"]
            answers = [
                b["tool_use_id"] for b in messages[n + 1]["content"] if b["type"] == "tool_result"
            ]
            pairs += zip(calls, answers, strict=True)
        return pairs
    key = "tool_name" if path == "/api/chat" else "tool_call_id"
    for n, message in enumerate(messages):
        for k, call in enumerate(message.get("tool_calls") or ()):
            answer = messages[n + 1 + k]
            assert answer["role"] == "tool"
            mine = call["function"]["name"] if path == "/api/chat" else call["id"]
            pairs.append((mine, answer[key]))
    return pairs


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_a_backend_that_reuses_one_call_id_gives_the_client_unique_ids(
    fake_backend: Start, gateway_server: Gateway, protocol: str, stream: bool
) -> None:
    flavour, options, path = PROTOCOLS[protocol]
    backend, server, _ = start_pair(fake_backend, gateway_server, flavour, fake=options)
    reused = "toolu_1" if protocol == "anthropic" else "call_1"
    backend.script(
        ToolCalls(calls=[ToolCall("Bash", {"command": "ls"}, id=reused)]),
        ToolCalls(calls=[ToolCall("Bash", {"command": "pwd"}, id=reused)]),
        Text(text="Done."),
    )
    bash = {"name": "Bash", "input_schema": {"type": "object"}}
    history: list[dict[str, Any]] = [{"role": "user", "content": "Look around."}]
    ids: list[str] = []
    for turn in range(3):
        answer = message_of(post(server, body(stream=stream, tools=[bash], messages=history)))
        if turn == 2:
            assert answer["content"] == [{"type": "text", "text": "Done."}]
            break
        (call,) = [b for b in answer["content"] if b["type"] == "tool_use"]
        ids.append(call["id"])
        history += [
            {"role": "assistant", "content": answer["content"]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call["id"], "content": f"out {turn}"}
                ],
            },
        ]
    assert len(set(ids)) == 2 and all(i.startswith("toolu_") and i != reused for i in ids)
    requests = backend.chat_requests
    assert [r.path for r in requests] == [path] * 3
    # The backend saw the client's ids, each answered by its own result, on every later turn.
    expected = [("Bash", "Bash")] * 2 if path == "/api/chat" else [(i, i) for i in ids]
    assert _pairs_seen(path, requests[1].body) == expected[:1]
    assert _pairs_seen(path, requests[2].body) == expected
