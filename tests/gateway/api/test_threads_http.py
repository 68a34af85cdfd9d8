"""Message threads through a real gateway: the official Python SDK's thread helper and tool
runner send `create` then `continue` with only the new messages, and the backend sees the whole
conversation (and the tools) on every turn, streamed or not, expired threads included."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import anthropic
import orjson
import pytest
from anthropic import beta_tool
from anthropic.types.beta import BetaMessage

from gateway.runner import GatewayServer
from gateway.threads import MemoryThreadStore
from tests.fakes.replies import CutAfter, Text, ToolCall, ToolCalls
from tests.fakes.server import FakeBackend
from tests.gateway.api.client import (
    NATIVE,
    Gateway,
    Start,
    body,
    error_of,
    last_record,
    message_of,
    post,
    start_pair,
)
from tests.gateway.api.test_review_http import HEADERS as REVIEW_HEADERS
from tests.gateway.api.test_review_http import PROJECT, SAFEGUARDS
from tests.gateway.api.test_review_http import TOOLS as REVIEW_TOOLS
from tests.gateway.translate.grammar import parse_sse
from tests.provision import ensure_anthropic_js_sdk

SYSTEM = "You answer in one word."
WEATHER: dict[str, Any] = {
    "name": "weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def _client(server: GatewayServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0)


def _texts(request_body: dict[str, Any]) -> list[str]:
    """Every text the backend got in a chat-completions request, in order (the system first)."""
    texts: list[str] = []
    for message in request_body["messages"]:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [part["text"] for part in content if part.get("type") == "text"]
    return texts


def _chat_bodies(backend: FakeBackend) -> list[dict[str, Any]]:
    return [r.body for r in backend.chat_requests]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_the_sdks_thread_helper_gives_the_backend_the_whole_conversation(
    fake_backend: Start, gateway_server: Gateway, stream: bool
) -> None:
    backend, server, sink = start_pair(fake_backend, gateway_server, "lmstudio")
    backend.script(Text(text="Sunny."), Text(text="Warm."), Text(text="Yes."))
    with _client(server) as client:
        thread = client.beta.messages.thread(
            model="claude-sonnet-4-6",
            max_tokens=64,
            system=SYSTEM,
            tools=[WEATHER],  # type: ignore[list-item]
        )
        replies: list[BetaMessage] = []
        for question in ("Weather in Paris?", "And the temperature?", "Go outside?"):
            if stream:
                with thread.stream({"role": "user", "content": question}) as events:
                    replies.append(events.get_final_message())
            else:
                replies.append(thread.send({"role": "user", "content": question}))
    assert [r.content[0].text for r in replies] == ["Sunny.", "Warm.", "Yes."]  # type: ignore[union-attr]
    bodies = _chat_bodies(backend)
    assert len(bodies) == 3
    # The SDK sent `continue` with the new question alone; the backend got everything.
    assert _texts(bodies[2]) == [
        SYSTEM,
        "Weather in Paris?",
        "Sunny.",
        "And the temperature?",
        "Warm.",
        "Go outside?",
    ]
    for sent in bodies:
        assert [t["function"]["name"] for t in sent["tools"]] == ["weather"]
        assert "thread" not in sent and "diagnostics" not in sent
    record = last_record(sink, 3)
    assert "thread continue emulated: 4 stored message(s) rebuilt from " + replies[1].id in (
        record.changes
    )


def test_the_tool_runner_over_a_thread_sees_history_and_tools_every_turn(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    backend, server, sink = start_pair(fake_backend, gateway_server, "lmstudio")
    # The backend reuses one tool-call id on every turn, as several local servers do.
    backend.script(
        ToolCalls(calls=[ToolCall("weather", {"city": "Paris"}, id="call_1")]),
        ToolCalls(calls=[ToolCall("weather", {"city": "Rome"}, id="call_1")]),
        Text(text="Both sunny."),
    )
    ran: list[str] = []

    @beta_tool
    def weather(city: str) -> str:
        """The weather in a city.

        Args:
            city: The city.
        """
        ran.append(city)
        return f"sunny in {city}"

    with _client(server) as client:
        runner = client.beta.messages.tool_runner(
            model="claude-sonnet-4-6",
            max_tokens=64,
            tools=[weather],
            messages=[{"role": "user", "content": "Weather in Paris and Rome?"}],
        )
        final = runner.until_done()
    assert ran == ["Paris", "Rome"]
    assert final.content[0].text == "Both sunny."  # type: ignore[union-attr]
    requests = backend.chat_requests
    assert len(requests) == 3
    for request in requests:
        assert [t["function"]["name"] for t in request.body["tools"]] == ["weather"]
    # The SDK sent the runner's turns as thread turns: a create, then continues…
    records = sink.wait(3)
    assert "thread create emulated: the gateway keeps the conversation" in records[0].changes
    assert all(
        any(change.startswith("thread continue emulated") for change in record.changes)
        for record in records[1:]
    )
    last = requests[2].body["messages"]
    assert _texts(requests[2].body)[0] == "Weather in Paris and Rome?"
    calls = [c for m in last if m["role"] == "assistant" for c in m.get("tool_calls") or ()]
    results = [m for m in last if m["role"] == "tool"]
    # …and the backend saw both calls with ids of their own, each answered by its result.
    assert len(calls) == 2 and len({c["id"] for c in calls}) == 2
    assert all(c["id"].startswith("toolu_") for c in calls)
    assert [r["tool_call_id"] for r in results] == [c["id"] for c in calls]
    assert [r["content"] for r in results] == ["sunny in Paris", "sunny in Rome"]


def test_an_expired_thread_is_a_404_and_the_sdk_replays_the_whole_conversation(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    backend, server, _ = start_pair(fake_backend, gateway_server, "lmstudio")
    backend.script(Text(text="One."), Text(text="Two."))
    with _client(server) as client:
        thread = client.beta.messages.thread(model="claude-sonnet-4-6", max_tokens=64)
        first = thread.send({"role": "user", "content": "Count."})
        # The gateway forgets every thread (its five minutes passed).
        state = server.app_state
        assert state is not None
        state.threads = MemoryThreadStore()
        second = thread.send({"role": "user", "content": "Go on."})
    assert second.content[0].text == "Two."  # type: ignore[union-attr]
    bodies = _chat_bodies(backend)
    assert len(bodies) == 2  # the 404 reached no backend
    assert _texts(bodies[1]) == ["Count.", "One.", "Go on."]
    assert first.id != second.id


def test_a_continue_of_an_unknown_id_is_the_404_with_its_error_code(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    backend, server, sink = start_pair(fake_backend, gateway_server, "lmstudio")
    for stream in (False, True):
        thread = {"type": "continue", "previous_message_id": "msg_gone"}
        response = post(server, body("more", stream=stream, thread=thread))
        error = error_of(response, 404)
        assert error["type"] == "not_found_error"
        assert error["details"] == {"error_code": "thread_not_found"}
    assert backend.chat_requests == []
    assert last_record(sink, 2).status == 404


def test_a_turn_cut_short_is_not_stored(fake_backend: Start, gateway_server: Gateway) -> None:
    backend, server, _ = start_pair(fake_backend, gateway_server, "lmstudio")
    backend.script(CutAfter(3, Text(text="a long answer cut short", chunks=6)))
    events = parse_sse(post(server, body("hi", stream=True, thread={"type": "create"})).content)
    assert events[-1][0] == "error"
    message_id = events[0][1]["message"]["id"]
    again = {"type": "continue", "previous_message_id": message_id}
    error = error_of(post(server, body("more", thread=again)), 404)
    assert error["details"] == {"error_code": "thread_not_found"}


@pytest.mark.parametrize("flavour", ["llamacpp", "ollama"])
def test_a_native_backend_gets_the_rebuilt_request_without_thread(
    fake_backend: Start, gateway_server: Gateway, flavour: str
) -> None:
    backend, server, _ = start_pair(fake_backend, gateway_server, flavour, fake=NATIVE[flavour])
    backend.script(Text(text="Sunny."), Text(text="Warm."))
    first = message_of(
        post(server, body("Weather?", system=SYSTEM, tools=[WEATHER], thread={"type": "create"}))
    )
    turn = {"type": "continue", "previous_message_id": first["id"]}
    message_of(
        post(
            server,
            body("Temperature?", thread=turn, diagnostics={"previous_message_id": first["id"]}),
        )
    )
    natives = backend.requests_to("/v1/messages")
    assert len(natives) == 2
    sent = natives[1].body
    assert "thread" not in sent and "diagnostics" not in sent
    assert sent["system"] == SYSTEM and sent["tools"] == [WEATHER]
    assert [m["content"] for m in sent["messages"]] == [
        "Weather?",
        [{"type": "text", "text": "Sunny."}],
        "Temperature?",
    ]


# The JS SDK's helpers, driven by a small node script (tests/gateway/api/js/threads.cjs).
JS_SCRIPT = Path(__file__).parent / "js" / "threads.cjs"


@pytest.fixture(scope="session")
def js_sdk() -> Path:
    """The pinned Anthropic JS SDK (tests.provision.ANTHROPIC_JS_SDK_VERSION)."""
    return ensure_anthropic_js_sdk()


def _node(server: GatewayServer, sdk: Path, scenario: str) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None  # ensure_anthropic_js_sdk fails with the install command otherwise
    result = subprocess.run(
        [node, str(JS_SCRIPT), server.url, str(sdk), scenario],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = orjson.loads(result.stdout)
    return out


@pytest.mark.parametrize("scenario", ["thread", "stream"])
def test_the_js_sdks_thread_helper_gives_the_backend_the_whole_conversation(
    fake_backend: Start, gateway_server: Gateway, js_sdk: Path, scenario: str
) -> None:
    backend, server, sink = start_pair(fake_backend, gateway_server, "lmstudio")
    backend.script(Text(text="Sunny."), Text(text="Warm."), Text(text="Yes."))
    out = _node(server, js_sdk, scenario)
    assert [reply["text"] for reply in out["replies"]] == ["Sunny.", "Warm.", "Yes."]
    bodies = _chat_bodies(backend)
    assert len(bodies) == 3
    assert _texts(bodies[2]) == [
        "You answer in one word.",
        "Weather in Paris?",
        "Sunny.",
        "And the temperature?",
        "Warm.",
        "Go outside?",
    ]
    assert all([t["function"]["name"] for t in b["tools"]] == ["weather"] for b in bodies)
    records = sink.wait(3)
    assert "thread create emulated: the gateway keeps the conversation" in records[0].changes
    assert (
        f"thread continue emulated: 4 stored message(s) rebuilt from {out['replies'][1]['id']}"
        in records[2].changes
    )


def test_the_js_sdks_tool_runner_sees_history_and_tools_every_turn(
    fake_backend: Start, gateway_server: Gateway, js_sdk: Path
) -> None:
    backend, server, sink = start_pair(fake_backend, gateway_server, "lmstudio")
    backend.script(
        ToolCalls(calls=[ToolCall("weather", {"city": "Paris"}, id="call_1")]),
        ToolCalls(calls=[ToolCall("weather", {"city": "Rome"}, id="call_1")]),
        Text(text="Both sunny."),
    )
    out = _node(server, js_sdk, "runner")
    assert out["ran"] == ["Paris", "Rome"]
    assert [reply["text"] for reply in out["replies"]] == ["Both sunny."]
    requests = backend.chat_requests
    assert len(requests) == 3
    assert all([t["function"]["name"] for t in r.body["tools"]] == ["weather"] for r in requests)
    records = sink.wait(3)
    assert all(
        any(change.startswith("thread continue emulated") for change in record.changes)
        for record in records[1:]
    )
    last = requests[2].body["messages"]
    assert _texts(requests[2].body)[0] == "Weather in Paris and Rome?"
    calls = [c for m in last if m["role"] == "assistant" for c in m.get("tool_calls") or ()]
    results = [m for m in last if m["role"] == "tool"]
    assert len({c["id"] for c in calls}) == 2
    assert [r["tool_call_id"] for r in results] == [c["id"] for c in calls]
    assert [r["content"] for r in results] == ["sunny in Paris", "sunny in Rome"]


@pytest.mark.parametrize("flavour", ["lmstudio", "llamacpp"])
def test_a_thread_in_auto_mode_gets_verdicts_and_answered_fields_on_one_message_delta(
    fake_backend: Start, gateway_server: Gateway, flavour: str
) -> None:
    options = NATIVE["llamacpp"] if flavour == "llamacpp" else {}
    backend, server, _ = start_pair(fake_backend, gateway_server, flavour, fake=options)
    backend.script(
        ToolCalls(calls=[ToolCall("Read", {"file_path": f"{PROJECT}/a.md"}, id="call_1")]),
        ToolCalls(calls=[ToolCall("Read", {"file_path": f"{PROJECT}/b.md"}, id="call_1")]),
    )
    turn: dict[str, Any] = {"type": "create"}
    fields: dict[str, Any] = {
        "tools": REVIEW_TOOLS,
        "safeguards": SAFEGUARDS,
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    }
    messages: list[dict[str, Any]] = [{"role": "user", "content": "read a, then b"}]
    ids: list[str] = []
    for _ in range(2):
        payload = body(stream=True, thread=turn, messages=messages, **fields)
        response = post(server, payload, headers=REVIEW_HEADERS)
        events = parse_sse(response.content)
        (delta,) = [data for name, data in events if name == "message_delta"]
        (call,) = [b for b in message_of(response)["content"] if b["type"] == "tool_use"]
        ids.append(call["id"])
        # The verdicts, keyed by the id the client got, in the delta; the answered field beside.
        (results,) = delta["delta"]["safeguard_results"]
        assert list(results["status"]["tool_uses"]) == [call["id"]]
        assert delta["context_management"] == {"applied_edits": []}
        start = events[0][1]["message"]
        turn = {"type": "continue", "previous_message_id": start["id"]}
        result = {"type": "tool_result", "tool_use_id": call["id"], "content": "text"}
        messages = [{"role": "user", "content": [result]}]
    assert len(set(ids)) == 2
    # The continue reached the backend whole, without the fields only the gateway answers.
    last = backend.chat_requests[-1].body
    assert "safeguards" not in last and "thread" not in last
    assert ids[0] in orjson.dumps(last).decode()
