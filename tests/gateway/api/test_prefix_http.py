"""Prefix stability: every turn of a Claude Code session reaches the backend as the previous
turn's prompt plus the new messages, on every protocol, so a local server's prompt cache serves
all but the new tokens; where the prompt does change early (a tool added), the record says so.

What "prefix" means, per protocol, on the body the fake backend received (parsed, then each part
serialised again with orjson, which is what the gateway sends: key order kept, one spelling):
- chat completions (`/v1/chat/completions`) and Ollama's `/api/chat`: the `tools` array, then
  each item of `messages` (the system prompt is the first). Turn N+1's tools equal turn N's, and
  turn N's message items are, byte for byte, the first items of turn N+1's.
- the native Messages API (`/v1/messages`): `tools`, `system`, then each item of `messages`,
  each without `cache_control` and with a string content read as one text block: a local
  server's chat template renders neither (Claude Code moves its cache marker to the newest block
  every turn and resends its first system message as a string).
Every other field that shapes the rendered prompt (template kwargs, reasoning effort, num_ctx…)
is the same on every turn; only max_tokens (fitted to what is left of the window), the stream
flag and Ollama's num_predict may differ.
"""

from __future__ import annotations

from typing import Any

import anthropic
import orjson
import pytest

from gateway.config import BackendConfig
from gateway.events import EventBus, RequestRecord
from tests.claude_session import BASES, TURN_COUNT, ClaudeCodeSession, sdk_stream
from tests.fakes.replies import Reasoning, Reply, Text, ToolCall, ToolCalls
from tests.fakes.server import FakeBackend
from tests.gateway.api.client import Gateway, Start, wait_for_probe
from tests.paths import load_fixture
from tests.records import RecordSink

# protocol → (fake flavour, its options, the model name the gateway routes to)
PROTOCOLS: dict[str, tuple[str, dict[str, Any], str]] = {
    "openai": ("llamacpp", {}, "fake-model"),
    "ollama": ("ollama", {}, "fake-model:latest"),
    "anthropic": ("llamacpp", {"messages_api": True}, "fake-model"),
}
# Fields that do not change the rendered prompt.
_FREE = {"messages", "tools", "system", "max_tokens", "max_completion_tokens", "stream"}
ADDED_TOOL_TURN = 4  # the turn (1-based) whose prompt gains a tool


def start(
    fake_backend: Start, gateway_server: Gateway, protocol: str
) -> tuple[FakeBackend, anthropic.Anthropic, RecordSink]:
    flavour, options, model = PROTOCOLS[protocol]
    backend = fake_backend(flavour, context_length=131072, **options)
    bus = EventBus()
    sink = RecordSink(bus)
    config = BackendConfig(id="fake", url=backend.url, protocol=protocol)
    server = gateway_server(backend.url, backends=[config], big=model, small=model, bus=bus)
    wait_for_probe(server)
    client = anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0)
    return backend, client, sink


def send(
    client: anthropic.Anthropic, body: dict[str, Any], headers: dict[str, str]
) -> tuple[list[dict[str, Any]], str]:
    """One streamed turn through the official SDK: the answer's blocks as Claude Code keeps
    them, and its id."""
    with sdk_stream(client, body, headers) as stream:
        message = stream.get_final_message()
    return [block.model_dump(exclude_none=True) for block in message.content], message.id


def run_session(
    backend: FakeBackend, client: anthropic.Anthropic, session: ClaudeCodeSession
) -> tuple[list[dict[str, Any]], str]:
    """Seven turns, and a title request of the same session after the first; the backend's
    body for each turn, and the name of the tool the session added."""
    bodies: list[dict[str, Any]] = []

    def turn(body: dict[str, Any], reply: Reply) -> tuple[list[dict[str, Any]], str]:
        backend.script(reply)
        answer = send(client, body, session.headers)
        bodies.append(backend.chat_requests[-1].body)
        return answer

    bash = ToolCall("Bash", {"command": "echo hi", "description": "Print hi"})
    content, _ = turn(session.request(), ToolCalls([bash], text="Let me run that."))
    # A side request of the same session between two turns: a conversation of its own.
    version = "2.1.197" if "2.1.197" in session.name else "2.1.332"
    title = load_fixture(f"claude-code-{version}-interactive-title-small-model")["body"]
    title["model"] = "claude-haiku-4-5"
    backend.script(Text(text='{"title": "Echo hi"}'))
    send(client, title, session.headers)

    session.answered(content)
    session.tool_results((content[-1]["id"], "hi"))
    content, _ = turn(session.request(), Reasoning(reasoning="It said hi.", text="It printed hi."))
    # Thinking is shown, and echoed back, unless the request asks for it omitted (2.1.3xx).
    assert (content[0]["type"] == "thinking") is (session.body["thinking"].get("display") is None)

    session.answered(content)
    session.user("now schedule a reminder for 9am")
    search = ToolCall("ToolSearch", {"query": "select:CronCreate", "max_results": 5})
    content, _ = turn(session.request(), ToolCalls([search], text="Let me find the tool."))

    session.answered(content)
    added = session.load_tool(content[-1]["id"])
    cron = ToolCall(added, {"cron": "0 9 * * *", "prompt": "Stand up."})
    content, _ = turn(session.request(), ToolCalls([cron]))

    # The last turns as a message thread: `create`, then `continue`s with the new message only.
    session.answered(content)
    session.tool_results((content[-1]["id"], "Scheduled job 1."))
    created = {**session.request(), "thread": {"type": "create"}}
    _, previous = turn(created, Text(text="Done: every day at 9."))
    for text in ("thanks", "bye"):
        follow = {
            "model": created["model"],
            "max_tokens": created["max_tokens"],
            "messages": [{"role": "user", "content": text}],
            "thread": {"type": "continue", "previous_message_id": previous},
        }
        _, previous = turn(follow, Text(text="You are welcome."))
    assert len(bodies) == TURN_COUNT
    return bodies, added


def parts(protocol: str, body: dict[str, Any]) -> tuple[bytes, list[bytes]]:
    """(the tools and system prompt, the messages), each part as its bytes."""
    if protocol != "anthropic":
        return orjson.dumps(body.get("tools")), [orjson.dumps(m) for m in body["messages"]]
    head = orjson.dumps([_plain(body.get("tools")), _plain(_blocks(body.get("system")))])
    messages = [{**m, "content": _blocks(m["content"])} for m in body["messages"]]
    return head, [orjson.dumps(_plain(m)) for m in messages]


def _blocks(content: Any) -> Any:
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def shape(body: dict[str, Any]) -> dict[str, Any]:
    """The fields beside the prompt that still shape its rendering."""
    out = {k: v for k, v in body.items() if k not in _FREE}
    if isinstance(out.get("options"), dict):
        out["options"] = {k: v for k, v in out["options"].items() if k != "num_predict"}
    return out


@pytest.mark.parametrize("base", BASES, ids=["2.1.197", "2.1.332"])
@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_each_turn_starts_with_the_previous_prompt(
    fake_backend: Start, gateway_server: Gateway, protocol: str, base: str
) -> None:
    backend, client, sink = start(fake_backend, gateway_server, protocol)
    session = ClaudeCodeSession(base)
    with client:
        bodies, added = run_session(backend, client, session)
    records = [r for r in sink.wait(TURN_COUNT + 1) if r.path == "/v1/messages"]
    assert all(r.status == 200 for r in records), [r.error for r in records]
    assert [r.extra["protocol"] for r in records] == [protocol] * (TURN_COUNT + 1)
    turns = [records[0], *records[2:]]

    for n in range(1, TURN_COUNT):
        before, after = parts(protocol, bodies[n - 1]), parts(protocol, bodies[n])
        where = f"turn {n} → {n + 1} ({protocol}, {base})"
        # The messages so far, byte for byte, then only new ones.
        assert len(after[1]) > len(before[1]), where
        for i, (old, new) in enumerate(zip(before[1], after[1], strict=False)):
            assert old == new, f"{where}: message {i} changed:\n{old!r}\n{new!r}"
        assert shape(bodies[n]) == shape(bodies[0]), where
        if n + 1 == ADDED_TOOL_TURN:
            # A tool added mid-conversation changes the tools, rendered before everything else.
            assert before[0] != after[0], where
            note = turns[n].prefix_note
            assert note is not None and "tools" in note and f"+{added}" in note, note
        else:
            assert before[0] == after[0], f"{where}: the tools or system prompt changed"
            assert turns[n].prefix_note is None, f"{where}: {turns[n].prefix_note}"
    assert turns[0].prefix_note is None
    title: RequestRecord = records[1]
    assert title.request_class == "title" and title.prefix_note is None
