"""Each upstream protocol object on its own: what it builds, how it decodes a streamed answer and
parses a whole one, and its own retry (the OpenAI one's `stream_options`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest

from gateway.backends.catalogue import BackendInfo, ModelInfo
from gateway.config import BackendConfig, Timeouts
from gateway.errors import InvalidRequest, Overloaded, UpstreamError
from gateway.schemas.anthropic import MessagesRequest
from gateway.translate.conversation import BILLING_PREFIX
from gateway.translate.stream import Event, StreamTranslator
from gateway.upstream.anthropic_messages import AnthropicMessages
from gateway.upstream.client import Upstream
from gateway.upstream.ollama_chat import OllamaChat
from gateway.upstream.openai_chat import OpenAIChat
from gateway.upstream.protocol import (
    Outgoing,
    ReplySpec,
    StreamDecoder,
    Unstreamed,
    UpstreamProtocol,
)

BACKEND = "http://127.0.0.1:11434/v1"
REQ: MessagesRequest = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
}


class ScriptedUpstream(Upstream):
    """An Upstream whose POSTs answer from a script: an error to raise, or a body to yield."""

    def __init__(self, *answers: Exception | bytes) -> None:
        super().__init__(BackendConfig(id="b", url=BACKEND), Timeouts(), transport="httpx")
        self.answers = list(answers)
        self.sent: list[dict[str, Any]] = []

    @asynccontextmanager
    async def post(
        self,
        url: str,
        body: dict[str, Any],
        *,
        headers: Any = None,
        retries: int = 0,
    ) -> AsyncIterator[httpx.Response]:
        self.sent.append(body)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        yield httpx.Response(200, content=answer)


def outgoing(
    *,
    stream: bool = True,
    raw: dict[str, Any] | None = None,
    info: BackendInfo | None = None,
    model: ModelInfo | None = None,
    needed: int = 0,
    window: int | None = None,
) -> Outgoing:
    return Outgoing(
        req=REQ,
        raw=raw if raw is not None else dict(REQ),
        backend_id="b",
        model_name="qwen3:8b",
        max_tokens=100,
        stream=stream,
        info=info,
        model=model,
        client_headers={"x-api-key": "client-secret", "anthropic-beta": "b1"},
        needed=needed,
        window=window,
        retries=2,
        changes=[],
        warnings=[],
    )


def test_openai_builds_a_chat_completions_request() -> None:
    upstream = ScriptedUpstream()
    request = OpenAIChat().build(outgoing(), upstream)
    assert request.url == f"{BACKEND}/chat/completions"
    assert request.headers == {} and request.retries == 2 and request.backend_id == "b"
    assert request.body["model"] == "qwen3:8b" and request.body["max_tokens"] == 100
    assert request.body["messages"] == [{"role": "user", "content": "hi"}]
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}


def test_openai_retries_without_stream_options_once_and_remembers_the_backend() -> None:
    protocol = OpenAIChat()
    refusal = InvalidRequest("unknown field: stream_options")
    upstream = ScriptedUpstream(refusal, b"ok")
    request = protocol.build(outgoing(), upstream)
    changes: list[str] = []

    async def scenario() -> bytes:
        async with protocol.open(upstream, request, changes) as response:
            return await response.aread()

    assert asyncio.run(scenario()) == b"ok"
    assert ["stream_options" in body for body in upstream.sent] == [True, False]
    assert "stream_options" not in request.body
    assert changes == ["stream_options dropped: the backend refuses it"]
    assert protocol.refuses_stream_options == {"b"}
    # The next request to that backend is built without it; other backends still get it.
    assert "stream_options" not in protocol.build(outgoing(), upstream).body
    other = outgoing()
    other.backend_id = "c"
    assert "stream_options" in protocol.build(other, upstream).body


def test_openai_passes_any_other_refusal_on() -> None:
    protocol = OpenAIChat()
    upstream = ScriptedUpstream(InvalidRequest("messages: field required"))
    request = protocol.build(outgoing(), upstream)

    async def scenario() -> None:
        async with protocol.open(upstream, request, []):
            pass

    with pytest.raises(InvalidRequest, match="field required"):
        asyncio.run(scenario())
    assert len(upstream.sent) == 1 and protocol.refuses_stream_options == set()


def test_ollama_builds_an_api_chat_request_with_num_ctx() -> None:
    model = ModelInfo("b", "qwen3:8b", context_window=4096, max_context=40960)
    request = OllamaChat().build(
        outgoing(model=model, needed=9000, window=40960), ScriptedUpstream()
    )
    assert request.url == "http://127.0.0.1:11434/api/chat"
    assert request.body["options"]["num_ctx"] == 16384
    assert request.body["options"]["num_predict"] == 100
    assert request.body["stream"] is True and "stream_options" not in request.body


def test_native_builds_the_clients_own_body_without_what_must_go() -> None:
    raw = {
        **REQ,
        "system": [{"type": "text", "text": f"{BILLING_PREFIX} cc_version=1;"}],
        "metadata": {"user_id": "device"},
    }
    out = outgoing(raw=raw, stream=False)
    request = AnthropicMessages().build(out, ScriptedUpstream())
    assert request.url == f"{BACKEND}/messages"
    assert request.body == {**REQ, "model": "qwen3:8b", "stream": False, "system": []}
    assert request.headers == {"anthropic-version": "2023-06-01", "anthropic-beta": "b1"}
    assert out.changes == ["metadata dropped", "billing header removed"]


def _sse(*payloads: Any) -> bytes:
    return b"".join(b"data: " + orjson.dumps(p) + b"\n\n" for p in payloads) + b"data: [DONE]\n\n"


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


STREAMS: dict[str, tuple[UpstreamProtocol, bytes]] = {
    "openai": (
        OpenAIChat(),
        _sse(_chunk({"role": "assistant", "content": "Hi"}), _chunk({}, "stop")),
    ),
    "ollama": (
        OllamaChat(),
        b'{"message":{"role":"assistant","content":"Hi"},"done":false}\n'
        b'{"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}\n',
    ),
    "anthropic": (
        AnthropicMessages(),
        b"".join(
            b"event: %s\ndata: %s\n\n" % (name.encode(), orjson.dumps(data))
            for name, data in [
                ("message_start", {"type": "message_start", "message": {"usage": {}}}),
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
                ),
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": "Hi"},
                    },
                ),
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                (
                    "message_delta",
                    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}},
                ),
                ("message_stop", {"type": "message_stop"}),
            ]
        ),
    ),
}


REPLY = ReplySpec("msg_1", "claude-sonnet-4-6", 7, (), BACKEND)


def _decoder(protocol: UpstreamProtocol) -> StreamDecoder:
    return protocol.decoder(REPLY)


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("cut", [1, 7, 10_000])
def test_each_protocol_decodes_its_own_stream_to_anthropic_events(name: str, cut: int) -> None:
    protocol, data = STREAMS[name]
    decoder = _decoder(protocol)
    events: list[Event] = []
    for start in range(0, len(data), cut):
        fed, done, failure = decoder.feed(data[start : start + cut])
        assert failure is None
        events += fed
        if done:
            break
    events += decoder.finish()
    assert [e[0] for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[2][1]["delta"] == {"type": "text_delta", "text": "Hi"}
    assert events[0][1]["message"]["id"] == "msg_1"
    assert decoder.has_content and decoder.stop_reason == "end_turn"
    assert decoder.message()["content"] == [{"type": "text", "text": "Hi"}]


@pytest.mark.parametrize("name", STREAMS)
def test_a_broken_chunk_ends_the_batch_with_an_upstream_error(name: str) -> None:
    protocol, _ = STREAMS[name]
    broken = {
        "openai": b"data: {not json\n\n",
        "ollama": b"{not json\n",
        "anthropic": b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        b'"message":"busy"}}\n\n',
    }[name]
    _, done, failure = _decoder(protocol).feed(broken)
    assert done and failure is not None
    # A backend's own error event keeps its type (and the status that goes with it).
    if name == "anthropic":
        assert (type(failure), failure.status) == (Overloaded, 529)
    else:
        assert isinstance(failure, UpstreamError)


WHOLE: dict[str, tuple[UpstreamProtocol, dict[str, Any]]] = {
    "openai": (
        OpenAIChat(),
        {
            "id": "c",
            "choices": [
                {"message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1},
        },
    ),
    "ollama": (
        OllamaChat(),
        {"message": {"role": "assistant", "content": "Hi"}, "done": True, "done_reason": "stop"},
    ),
    "anthropic": (
        AnthropicMessages(),
        {
            "id": "msg_backend",
            "type": "message",
            "role": "assistant",
            "model": "qwen3:8b",
            "content": [{"type": "text", "text": "Hi"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 1},
        },
    ),
}


@pytest.mark.parametrize("name", WHOLE)
def test_each_protocol_parses_its_whole_answer_to_a_message(name: str) -> None:
    protocol, answer = WHOLE[name]
    message, _ = protocol.parse(orjson.dumps(answer), REPLY)
    assert message["type"] == "message" and message["model"] == "claude-sonnet-4-6"
    assert message["content"] == [{"type": "text", "text": "Hi"}]
    assert message["stop_reason"] == "end_turn"


def test_a_native_error_answer_keeps_its_type_and_status() -> None:
    body = orjson.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    with pytest.raises(Overloaded) as caught:
        AnthropicMessages().parse(body, REPLY)
    assert (caught.value.status, caught.value.error_type) == (529, "overloaded_error")


def test_a_whole_answers_early_opening_is_the_translators() -> None:
    """A stream committed before a fetched answer arrives opens as the translator's would."""
    unstreamed = Unstreamed(ReplySpec("msg_1", "claude-sonnet-4-6", 42, (), BACKEND))
    translator = StreamTranslator(
        message_id="msg_1", client_model="claude-sonnet-4-6", input_tokens=42
    )
    assert unstreamed.start() == translator.start()
    assert unstreamed.start() == []  # once
    assert not unstreamed.has_content and unstreamed.finish() == []


def _anthropic_sse(*events: tuple[str, dict[str, Any]]) -> bytes:
    return b"".join(b"event: %s\ndata: %s\n\n" % (n.encode(), orjson.dumps(d)) for n, d in events)


# The same answer, "Plan." reasoning then "Hi", in each protocol's stream.
THINKING_STREAMS: dict[str, tuple[UpstreamProtocol, bytes]] = {
    "openai": (
        OpenAIChat(),
        _sse(
            _chunk({"role": "assistant", "reasoning_content": "Plan."}),
            _chunk({"content": "Hi"}),
            _chunk({}, "stop"),
        ),
    ),
    "ollama": (
        OllamaChat(),
        b'{"message":{"role":"assistant","content":"","thinking":"Plan."},"done":false}\n'
        b'{"message":{"role":"assistant","content":"Hi"},"done":false}\n'
        b'{"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}\n',
    ),
    "anthropic": (
        AnthropicMessages(),
        _anthropic_sse(
            ("message_start", {"type": "message_start", "message": {"usage": {}}}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking"}},
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": "Plan."},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 1, "content_block": {"type": "text"}},
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {"type": "text_delta", "text": "Hi"},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 1}),
            (
                "message_delta",
                {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}},
            ),
            ("message_stop", {"type": "message_stop"}),
        ),
    ),
}
THINKING_WHOLE: dict[str, dict[str, Any]] = {
    "openai": {
        "choices": [
            {
                "message": {"role": "assistant", "reasoning_content": "Plan.", "content": "Hi"},
                "finish_reason": "stop",
            }
        ]
    },
    "ollama": {
        "message": {"role": "assistant", "thinking": "Plan.", "content": "Hi"},
        "done": True,
        "done_reason": "stop",
    },
    "anthropic": {
        "id": "msg_backend",
        "type": "message",
        "content": [
            {"type": "thinking", "thinking": "Plan.", "signature": "s"},
            {"type": "text", "text": "Hi"},
        ],
        "stop_reason": "end_turn",
        "usage": {},
    },
}


@pytest.mark.parametrize("show", [True, False], ids=["shown", "omitted"])
@pytest.mark.parametrize("name", THINKING_STREAMS)
def test_thinking_display_omitted_leaves_no_thinking_in_any_protocol(name: str, show: bool) -> None:
    protocol, data = THINKING_STREAMS[name]
    reply = ReplySpec("msg_1", "claude-sonnet-4-6", 7, (), BACKEND, show_thinking=show)
    decoder = protocol.decoder(reply)
    events, _, failure = decoder.feed(data)
    assert failure is None
    events += decoder.finish()
    kinds = ["thinking", "text"] if show else ["text"]
    starts = [e[1]["content_block"]["type"] for e in events if e[0] == "content_block_start"]
    assert starts == kinds
    assert not show or any(e[1].get("delta", {}).get("thinking") == "Plan." for e in events)
    assert [b["type"] for b in decoder.message()["content"]] == kinds
    message, _ = protocol.parse(orjson.dumps(THINKING_WHOLE[name]), reply)
    assert [b["type"] for b in message["content"]] == kinds


def test_native_local_servers_get_the_tools_in_effect_and_no_tool_changes() -> None:
    tools: list[dict[str, Any]] = [
        {"name": "Read", "input_schema": {"type": "object"}},
        {"name": "Deploy", "input_schema": {"type": "object"}, "defer_loading": True},
        {"name": "Bash", "input_schema": {"type": "object"}},
    ]
    change = {
        "role": "system",
        "content": [
            {"type": "tool_addition", "tool": {"type": "tool_reference", "name": "Deploy"}},
            {"type": "tool_removal", "tool": {"type": "tool_reference", "name": "Bash"}},
        ],
    }
    raw: dict[str, Any] = {
        **REQ,
        "tools": tools,
        "messages": [*REQ["messages"], change, {"role": "assistant", "content": "ok"}],
    }
    out = outgoing(raw=raw, stream=False)
    out.req = {**REQ, "tools": tools, "messages": raw["messages"]}  # type: ignore[typeddict-item]
    body = AnthropicMessages().build(out, ScriptedUpstream()).body
    assert body["tools"] == [tools[0], {"name": "Deploy", "input_schema": {"type": "object"}}]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant"]
    assert out.changes == [
        "1 deferred or removed tool(s) withheld from the backend",
        "2 tool change(s) applied to the tool list, not sent",
    ]
    # A remote Anthropic-compatible provider gets them as sent.
    remote = outgoing(
        raw=raw, stream=False, info=BackendInfo(id="b", url=BACKEND, kind="anthropic", remote=True)
    )
    assert AnthropicMessages().build(remote, ScriptedUpstream()).body["tools"] == tools
