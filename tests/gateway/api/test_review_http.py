"""Auto mode's review answered by the gateway: the official SDK against a real uvicorn, fake
backends behind it (one of them answering as the review model), asserting the
`safeguard_results` the client reads, what reached the backends and the request record."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from gateway.api.reviewer import BETA
from gateway.config import BackendConfig, ReviewConfig
from gateway.events import RequestRecord
from gateway.logfile import format_record
from gateway.review.classifier import SYSTEM_PROMPT
from gateway.runner import GatewayServer
from tests.fakes.replies import Reply, Respond, Stall, Text, ToolCall, ToolCalls
from tests.fakes.server import RecordedRequest
from tests.gateway.api.client import NATIVE, Gateway, Start, start_pair
from tests.gateway.translate.grammar import assert_valid_stream, parse_sse
from tests.records import RecordSink

PROJECT = "/home/user/project"
SAFEGUARDS = [
    {
        "type": "dangerous_tool_use",
        "classifier_context": {
            "v": 1,
            "permission_mode": "auto",
            "platform": "linux",
            "live_cwd": PROJECT,
            "home_dir": "/home/user",
            "trusted_directories": {"primary": {"path": PROJECT, "resolved": [PROJECT]}},
            "rules": {"allow": [], "deny": [], "ask": []},
            "auto_mode": {"allow": [], "soft_deny": [], "hard_deny": []},
        },
    }
]
HEADERS = {"anthropic-beta": f"claude-code-20250219,{BETA},afk-mode-2026-01-31"}
TOOLS: list[dict[str, Any]] = [
    {"name": name, "input_schema": {"type": "object"}} for name in ("Bash", "Read", "Write")
]
READ = ToolCall("Read", {"file_path": f"{PROJECT}/README.md"})
FORCE_PUSH = ToolCall("Bash", {"command": "git push --force origin main"})
# No rule decides it: a script run inline (it writes inside the project, but who can tell).
INLINE = ToolCall("Bash", {"command": "python3 -c \"open('made.txt','w').write('hi')\""})

_clients: list[anthropic.Anthropic] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def sdk(server: GatewayServer) -> anthropic.Anthropic:
    client = anthropic.Anthropic(base_url=server.url, api_key="anything", max_retries=0)
    _clients.append(client)
    return client


def ask(
    server: GatewayServer, *, stream: bool, safeguards: bool = True, **fields: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """One auto-mode turn through the SDK: the content the client got and its
    `safeguard_results` (top level, or in the final message_delta's delta)."""
    extra = {"safeguards": SAFEGUARDS} if safeguards else {}
    request: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "go"}],
        "tools": TOOLS,
        **fields,
    }
    client = sdk(server)
    if not stream:
        message = client.messages.create(**request, extra_body=extra, extra_headers=HEADERS)
        data = message.to_dict()
        return data["content"], data.get("safeguard_results")
    results: list[dict[str, Any]] | None = None
    deltas = 0
    with client.messages.stream(**request, extra_body=extra, extra_headers=HEADERS) as events:
        for event in events:
            if event.type == "message_delta":
                deltas += 1
                results = (event.delta.model_extra or {}).get("safeguard_results")
        final: dict[str, Any] = events.get_final_message().to_dict()
    assert deltas == 1
    return final["content"], results


def tool_uses(results: list[dict[str, Any]] | None) -> dict[str, Any]:
    assert results is not None, "no safeguard_results"
    (result,) = results
    assert result["type"] == "dangerous_tool_use"
    assert result["status"]["type"] == "available", result
    verdicts: dict[str, Any] = result["status"]["tool_uses"]
    return verdicts


def ids_of(content: list[dict[str, Any]]) -> list[str]:
    return [block["id"] for block in content if block["type"] == "tool_use"]


def classifier(flag: dict[str, bool], *, delay: float = 0.0) -> Respond:
    """The review model: a verdict for each tool id it is asked about, by tool command."""

    def make(body: Any) -> Reply:
        asked = _pending_calls(body)
        verdicts = {
            call["id"]: {
                "flagged": flag.get(str(call["input"].get("command")), False),
                "explanation": "It runs an unreviewed script.",
            }
            for call in asked
        }
        text = orjson.dumps({"verdicts": verdicts}).decode()
        return Stall(delay, Text(text)) if delay else Text(text)

    return Respond(make)


def _pending_calls(body: Any) -> list[dict[str, Any]]:
    user = next(m for m in body["messages"] if m["role"] == "user")
    content = user["content"]
    text = content if isinstance(content, str) else "".join(p["text"] for p in content)
    listed: list[dict[str, Any]] = orjson.loads(text.split("Tool calls to classify:\n", 1)[1])
    return listed


def classifier_requests(requests: list[RecordedRequest]) -> list[RecordedRequest]:
    return [r for r in requests if SYSTEM_PROMPT[:60] in orjson.dumps(r.body).decode()]


def review_of(sink: RecordSink, count: int = 1) -> dict[str, Any]:
    record: RequestRecord = sink.wait(count)[-1]
    review: dict[str, Any] = record.extra["review"]
    return review


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_the_rules_pass_a_read_and_flag_a_force_push_with_no_model_call(
    stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, sink = start_pair(fake_backend, gateway_server, "lmstudio")
    fake.script(ToolCalls([READ, FORCE_PUSH], text="Reading, then pushing."))

    content, results = ask(server, stream=stream)

    read_id, push_id = ids_of(content)
    verdicts = tool_uses(results)
    assert verdicts[read_id] == {"type": "evaluated", "outcome": "not_flagged"}
    assert verdicts[push_id]["type"] == "evaluated"
    assert verdicts[push_id]["outcome"] == "flagged"
    assert "force" in verdicts[push_id]["explanation"].lower()
    assert set(verdicts) == {read_id, push_id}
    # One request reached the backend: the turn itself, no review model.
    assert len(fake.chat_requests) == 1
    review = review_of(sink)
    assert review["mode"] == "classifier"
    assert review["verdicts"][read_id]["layer"] == "rules"
    assert review["verdicts"][push_id] == {
        "outcome": "flagged",
        "layer": "rules",
        # The whole sentence; the client gets it without the full stop Claude Code adds.
        "explanation": verdicts[push_id]["explanation"] + ".",
        "rule": review["verdicts"][push_id]["rule"],
    }
    record = sink[-1]
    assert any(c.startswith("safeguards answered by the gateway: ") for c in record.changes)
    # The headless log line says it too (the app's request detail lists the same changes).
    line = format_record(record)
    assert f"{push_id} flagged by rules" in line and f"{read_id} not_flagged by rules" in line


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_the_classifier_decides_what_the_rules_leave(
    stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, sink = start_pair(fake_backend, gateway_server, "lmstudio")
    fake.script(
        ToolCalls([READ, INLINE], text="Reading, then a script."),
        classifier({str(INLINE.arguments["command"]): True}),  # type: ignore[index]
    )

    content, results = ask(server, stream=stream)

    read_id, inline_id = ids_of(content)
    verdicts = tool_uses(results)
    assert verdicts[read_id] == {"type": "evaluated", "outcome": "not_flagged"}
    assert verdicts[inline_id] == {
        "type": "evaluated",
        "outcome": "flagged",
        "explanation": "It runs an unreviewed script",  # Claude Code adds the full stop
    }
    (asked,) = classifier_requests(fake.chat_requests)
    # Through the gateway's own translation: a plain chat request, not streamed, no tools, and
    # only the call the rules left, under the id the client received.
    assert asked.body["stream"] is False and "tools" not in asked.body
    assert asked.body["model"] == "fake-model"
    assert [c["id"] for c in _pending_calls(asked.body)] == [inline_id]
    review = review_of(sink)
    assert review["verdicts"][read_id]["layer"] == "rules"
    assert review["verdicts"][inline_id] == {
        "outcome": "flagged",
        "layer": "classifier",
        "explanation": "It runs an unreviewed script.",
    }
    assert review["classifier_route"] == "fake/fake-model"


def test_the_classifier_may_clear_a_call(fake_backend: Start, gateway_server: Gateway) -> None:
    fake, server, sink = start_pair(fake_backend, gateway_server, "lmstudio")
    fake.script(ToolCalls([INLINE]), classifier({}))

    content, results = ask(server, stream=True)

    (inline_id,) = ids_of(content)
    assert tool_uses(results) == {inline_id: {"type": "evaluated", "outcome": "not_flagged"}}
    assert review_of(sink)["verdicts"][inline_id]["layer"] == "classifier"


def test_pings_flow_while_the_verdict_is_pending(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, _ = start_pair(fake_backend, gateway_server, "lmstudio", ping_interval=0.2)
    fake.script(ToolCalls([INLINE]), classifier({}, delay=1.5))
    payload = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 256,
        "stream": True,
        "messages": [{"role": "user", "content": "go"}],
        "tools": TOOLS,
        "safeguards": SAFEGUARDS,
    }

    response = httpx.post(f"{server.url}/v1/messages", json=payload, timeout=20)

    events = parse_sse(response.content)
    assert_valid_stream(events)
    names = [name for name, _ in events]
    last_block = max(i for i, name in enumerate(names) if name == "content_block_stop")
    delta_at = names.index("message_delta")
    # The final delta waited for the review model, and the stream kept talking meanwhile.
    assert names[last_block + 1 : delta_at].count("ping") >= 3, names
    (tool_id,) = [d["content_block"]["id"] for n, d in events if n == "content_block_start"]
    delta = events[delta_at][1]["delta"]
    assert delta["stop_reason"] == "tool_use"
    assert tool_uses(delta["safeguard_results"]) == {
        tool_id: {"type": "evaluated", "outcome": "not_flagged"}
    }


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_a_classifier_timeout_is_unavailable(
    stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, sink = start_pair(
        fake_backend, gateway_server, "lmstudio", review=ReviewConfig(timeout=0.5)
    )
    fake.script(ToolCalls([READ, INLINE]), Stall(5.0, Text('{"verdicts": {}}')))

    content, results = ask(server, stream=stream)

    read_id, inline_id = ids_of(content)
    assert tool_uses(results) == {
        read_id: {"type": "evaluated", "outcome": "not_flagged"},
        inline_id: {"type": "unavailable", "reason": "timeout"},
    }
    review = review_of(sink)
    assert review["verdicts"][inline_id] == {
        "outcome": "unavailable",
        "layer": "classifier",
        "reason": "timeout",
    }


@pytest.mark.parametrize(
    "answer",
    [
        Text("Looks fine to me!"),
        Text('{"verdicts": {"toolu_someone_else": {"flagged": false}}}'),
        Text('{"verdicts": {"x": {"flagged": "false"'),
    ],
    ids=["prose", "other-id", "cut-off"],
)
def test_an_unparsable_answer_is_unavailable_never_not_flagged(
    answer: Text, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, _ = start_pair(fake_backend, gateway_server, "lmstudio")
    fake.script(ToolCalls([INLINE]), answer)

    content, results = ask(server, stream=False)

    (inline_id,) = ids_of(content)
    assert tool_uses(results) == {inline_id: {"type": "unavailable", "reason": "error"}}


def test_a_failing_review_model_is_unavailable(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, sink = start_pair(
        fake_backend, gateway_server, "lmstudio", review=ReviewConfig(model="no-such-model")
    )
    fake.script(ToolCalls([INLINE]))

    content, results = ask(server, stream=True)

    (inline_id,) = ids_of(content)
    assert tool_uses(results) == {inline_id: {"type": "unavailable", "reason": "error"}}
    record = sink.wait(1)[-1]
    assert any("review model failed" in w for w in record.warnings), record.warnings


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_off_answers_unsupported(
    stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, sink = start_pair(
        fake_backend, gateway_server, "lmstudio", review=ReviewConfig(mode="off")
    )
    fake.script(ToolCalls([FORCE_PUSH]))

    _, results = ask(server, stream=stream)

    assert results == [{"type": "dangerous_tool_use", "status": {"type": "unsupported"}}]
    assert len(fake.chat_requests) == 1
    assert review_of(sink)["mode"] == "off"


def test_rules_only_hands_an_undecided_reply_to_the_user(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, sink = start_pair(
        fake_backend, gateway_server, "lmstudio", review=ReviewConfig(mode="rules")
    )
    fake.script(ToolCalls([READ, INLINE]), ToolCalls([INLINE, FORCE_PUSH]), ToolCalls([READ]))

    # Undecided and nothing flagged: unsupported, so Claude Code asks the user.
    _, results = ask(server, stream=True)
    assert results == [{"type": "dangerous_tool_use", "status": {"type": "unsupported"}}]
    # A flagged call is blocked; the undecided one beside it has no verdict.
    content, results = ask(server, stream=False)
    inline_id, push_id = ids_of(content)
    verdicts = tool_uses(results)
    assert verdicts[inline_id] == {"type": "unavailable", "reason": "error"}
    assert verdicts[push_id]["outcome"] == "flagged"
    # What the rules decide is answered as usual.
    content, results = ask(server, stream=True)
    assert tool_uses(results) == {
        ids_of(content)[0]: {"type": "evaluated", "outcome": "not_flagged"}
    }
    # The review model was never asked.
    assert len(fake.chat_requests) == 3
    assert review_of(sink, 3)["mode"] == "rules"
    assert "undecided" in sink[0].extra["review"]["note"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_a_reply_without_tool_calls_gets_an_empty_map(
    stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, _ = start_pair(fake_backend, gateway_server, "lmstudio")
    fake.script(Text("Nothing to run."))

    content, results = ask(server, stream=stream)

    assert [block["text"] for block in content] == ["Nothing to run."]
    assert results == [
        {"type": "dangerous_tool_use", "status": {"type": "available", "tool_uses": {}}}
    ]


def test_without_safeguards_there_are_no_results(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, sink = start_pair(fake_backend, gateway_server, "lmstudio")
    fake.script(ToolCalls([FORCE_PUSH]))

    _, results = ask(server, stream=True, safeguards=False)

    assert results is None
    assert "review" not in sink.wait(1)[-1].extra


@pytest.mark.parametrize(
    ("flavour", "options"),
    [
        ("lmstudio", {}),
        ("ollama", {}),
        ("llamacpp", {}),
        *((f"{flavour}-native", options) for flavour, options in NATIVE.items()),
    ],
)
def test_safeguards_never_reach_a_backend(
    flavour: str, options: dict[str, Any], fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, _ = start_pair(
        fake_backend, gateway_server, flavour.removesuffix("-native"), fake=options
    )
    fake.script(ToolCalls([READ]), ToolCalls([INLINE]), classifier({}))

    for stream in (False, True):
        content, results = ask(server, stream=stream)
        assert set(tool_uses(results)) == set(ids_of(content))

    sent = fake.chat_requests
    assert len(sent) == 3  # two turns and one review
    if options:
        assert {r.path for r in sent} == {"/v1/messages"}, [r.path for r in sent]
    for request in sent:
        text = orjson.dumps(request.body).decode()
        assert "safeguards" not in text and "classifier_context" not in text
        assert BETA not in request.headers.get("anthropic-beta", "")
    if options:
        # The client's other betas still reach a native backend.
        assert "afk-mode-2026-01-31" in sent[0].headers["anthropic-beta"]


def test_the_web_search_notice_carries_results(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    _, server, _ = start_pair(fake_backend, gateway_server, "lmstudio")
    web = [{"type": "web_search_20250305", "name": "web_search"}]

    _, results = ask(server, stream=True, tools=web)

    assert results == [
        {"type": "dangerous_tool_use", "status": {"type": "available", "tool_uses": {}}}
    ]


def test_the_ids_in_the_map_are_the_ids_the_client_received(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, _ = start_pair(fake_backend, gateway_server, "lmstudio")
    fake.script(ToolCalls([READ, READ, READ], chunks=5))

    content, results = ask(server, stream=True)

    ids = ids_of(content)
    assert len(set(ids)) == 3 and all(re.fullmatch(r"[\w-]+", i) for i in ids)
    assert list(tool_uses(results)) == ids


def test_an_answer_fetched_whole_is_streamed_with_the_verdicts(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    # A backend that cannot stream: the gateway asks without streaming and streams the answer.
    fake = fake_backend("lmstudio")
    backend = BackendConfig(id="fake", url=fake.url, can_stream=False)
    server = gateway_server(fake.url, backends=[backend])
    fake.script(ToolCalls([READ, FORCE_PUSH]))

    content, results = ask(server, stream=True)

    read_id, push_id = ids_of(content)
    verdicts = tool_uses(results)
    assert verdicts[read_id]["outcome"] == "not_flagged"
    assert verdicts[push_id]["outcome"] == "flagged"
    assert fake.chat_requests[0].body["stream"] is False


CAPTURED = Path(__file__).resolve().parents[2] / "fixtures" / "claude-code"


@pytest.mark.parametrize("turn", ["safeguards", "turn2"])
@pytest.mark.parametrize("flavour", ["lmstudio", "llamacpp-native"])
def test_claude_code_2_1_332s_auto_mode_requests_are_answered(
    turn: str, flavour: str, fake_backend: Start, gateway_server: Gateway
) -> None:
    """The requests 2.1.332 really sent in auto mode (the first of a turn, and the tool result's
    follow-up, which carries `safeguards` too), with their headers."""
    name = f"claude-code-2.1.332-interactive-auto-{turn}.json"
    fixture = orjson.loads((CAPTURED / name).read_bytes())
    options = NATIVE["llamacpp"] if flavour.endswith("-native") else {}
    options = {**options, "context_length": 65536}  # Claude Code's prompt is ~11k tokens
    fake, server, sink = start_pair(
        fake_backend, gateway_server, flavour.removesuffix("-native"), fake=options
    )
    fake.script(ToolCalls([ToolCall("Bash", {"command": "git status"})]))
    skip = ("host", "content-length", "authorization", "accept-encoding")
    headers = {k: v for k, v in fixture["headers"].items() if k.lower() not in skip}
    assert BETA in headers["anthropic-beta"] and "safeguards" in fixture["body"]

    response = httpx.post(
        f"{server.url}/v1/messages?beta=true",
        content=orjson.dumps(fixture["body"]),
        headers=headers,
        timeout=60,
    )

    events = parse_sse(response.content)
    assert_valid_stream(events)
    (tool_id,) = [d["content_block"]["id"] for n, d in events if n == "content_block_start"]
    (delta,) = [d["delta"] for n, d in events if n == "message_delta"]
    assert tool_uses(delta["safeguard_results"]) == {
        tool_id: {"type": "evaluated", "outcome": "not_flagged"}
    }
    (sent,) = fake.chat_requests
    assert "safeguards" not in orjson.dumps(sent.body).decode()
    assert BETA not in sent.headers.get("anthropic-beta", "")
    assert review_of(sink)["verdicts"][tool_id]["rule"] == "read_only"


def test_a_review_prompt_too_long_for_the_model_is_input_too_long(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    # The turn fits the model's window; the review prompt (its instructions alone are ~500
    # tokens) does not, and the gateway knows it before sending it.
    fake, server, sink = start_pair(
        fake_backend, gateway_server, "llamacpp", fake={"context_length": 300}
    )
    fake.script(ToolCalls([INLINE]))

    content, results = ask(server, stream=True)

    (inline_id,) = ids_of(content)
    assert tool_uses(results) == {inline_id: {"type": "unavailable", "reason": "input_too_long"}}
    assert len(fake.chat_requests) == 1
    record = sink.wait(1)[-1]
    assert any("too long for its window" in w for w in record.warnings), record.warnings
