"""Property-based fuzzing of what reads untrusted input: the request parser (then the request
translator), the stream translator and the Anthropic stream repairer, the byte decoders of the
three upstream dialects and the non-streamed answer reader. Whatever comes in, out comes a
result or a GatewayError (InvalidRequest for a client's input, UpstreamError for a backend's),
never another exception."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.backends.protocol_choice import ProtocolChoice
from gateway.errors import GatewayError, InvalidRequest, UpstreamError
from gateway.repair.stream import AnthropicStreamRepairer
from gateway.schemas.anthropic import parse_messages_request
from gateway.translate.request import BackendTraits, anthropic_to_openai
from gateway.translate.stream import StreamTranslator
from gateway.upstream.protocol import ReplySpec
from tests.gateway.hostile.full import FULL
from tests.gateway.translate.grammar import assert_valid_stream

# Fast enough for the default suite on a loaded two-core machine; the deadline catches a
# pathological (quadratic, runaway) case without flaking on a slow example.
FUZZ = settings(
    max_examples=300,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TOOLS = ("Bash", "Read", "Edit")
PROTOCOLS = ProtocolChoice()
REPLY = ReplySpec("msg_fuzz", "claude-sonnet-4-6", 0, TOOLS, "http://127.0.0.1:1/v1")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["text", "tool_use", "image", "thinking", "user", "assistant", "", "stop"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


PATHS = _paths(FULL)[1:]


@st.composite
def mutated_requests(draw: st.DrawFn) -> Any:
    """The full request with a few fields replaced by any JSON value, or deleted."""
    body = copy.deepcopy(FULL)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        node: Any = body
        try:
            for key in path[:-1]:
                node = node[key]
            if isinstance(node, dict) != isinstance(path[-1], str):
                # An earlier change put an object where a list was: an int key in it would not
                # be JSON at all (orjson refuses to encode it, long before the gateway).
                continue
            if draw(st.booleans()) and isinstance(node, dict):
                node.pop(path[-1], None)
            elif isinstance(node, dict) and not isinstance(path[-1], str):
                continue  # a list an earlier change made a dict: JSON has no integer keys
            else:
                node[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed the way there
    return body


@FUZZ
@given(value=st.one_of(json_values, mutated_requests()))
def test_any_json_parses_to_a_request_or_invalid_request(value: Any) -> None:
    try:
        request = parse_messages_request(orjson.dumps(value))
    except InvalidRequest as exc:
        assert exc.status == 400 and exc.message
        return
    # A request the parser accepted translates without crashing.
    for traits in (BackendTraits(), BackendTraits(vision=True, reasoning_effort=True)):
        try:
            out = anthropic_to_openai(request, "local", stream=False, traits=traits).body
        except GatewayError:
            continue
        orjson.dumps(out)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_any_bytes_parse_to_a_request_or_invalid_request(raw: bytes) -> None:
    try:
        parse_messages_request(raw)
    except InvalidRequest:
        pass


deltas = st.fixed_dictionaries(
    {},
    optional={
        "role": st.one_of(st.just("assistant"), json_values),
        "content": st.one_of(st.text(max_size=30), json_values),
        "reasoning_content": st.one_of(st.text(max_size=10), json_values),
        "reasoning": st.one_of(st.text(max_size=10), json_values),
        "tool_calls": st.one_of(
            json_values,
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "index": st.one_of(st.integers(-2, 3), json_values),
                        "id": st.one_of(st.text(max_size=6), json_values),
                        "type": st.just("function"),
                        "function": st.one_of(
                            json_values,
                            st.fixed_dictionaries(
                                {},
                                optional={
                                    "name": st.one_of(st.sampled_from(TOOLS), json_values),
                                    "arguments": st.one_of(st.text(max_size=20), json_values),
                                },
                            ),
                        ),
                    },
                ),
                max_size=3,
            ),
        ),
        "function_call": json_values,
    },
)
chunks = st.one_of(
    json_values.filter(lambda v: isinstance(v, dict)),
    st.fixed_dictionaries(
        {},
        optional={
            "choices": st.one_of(
                json_values,
                st.lists(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "index": st.integers(0, 2),
                            "delta": st.one_of(deltas, json_values),
                            "finish_reason": st.one_of(
                                st.sampled_from(["stop", "length", "tool_calls", None]),
                                json_values,
                            ),
                        },
                    ),
                    max_size=2,
                ),
            ),
            "usage": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "prompt_tokens": json_values,
                        "completion_tokens": json_values,
                        "prompt_tokens_details": json_values,
                    },
                ),
            ),
        },
    ),
)


@FUZZ
@given(stream=st.lists(chunks, max_size=12), sniff=st.booleans())
def test_any_chunks_translate_to_events_or_an_upstream_error(
    stream: list[dict[str, Any]], sniff: bool
) -> None:
    translator = StreamTranslator(
        message_id="msg_fuzz",
        client_model="claude-sonnet-4-6",
        input_tokens=3,
        tool_names=TOOLS if sniff else (),
    )
    try:
        events = translator.start()
        for chunk in stream:
            events += translator.feed(chunk)
        events += translator.finish()
    except UpstreamError:
        return
    assert_valid_stream(events)
    orjson.dumps(translator.message())


event_names = st.sampled_from(
    [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
        "mystery",
    ]
)
blocks = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(["text", "thinking", "tool_use"]), json_values)},
    optional={
        "text": json_values,
        "thinking": json_values,
        "id": json_values,
        "name": st.one_of(st.sampled_from(TOOLS), json_values),
        "input": json_values,
    },
)
anthropic_deltas = st.fixed_dictionaries(
    {
        "type": st.one_of(
            st.sampled_from(
                ["text_delta", "thinking_delta", "input_json_delta", "signature_delta"]
            ),
            json_values,
        )
    },
    optional={
        "text": st.one_of(st.text(max_size=20), json_values),
        "thinking": json_values,
        "partial_json": st.one_of(st.sampled_from(['{"a":', "1}", "{}"]), json_values),
        "signature": json_values,
        "stop_reason": st.one_of(st.sampled_from(["end_turn", "tool_use"]), json_values),
    },
)
anthropic_data = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "type": json_values,
            "index": st.one_of(st.integers(-1, 3), json_values),
            "content_block": st.one_of(blocks, json_values),
            "delta": st.one_of(anthropic_deltas, json_values),
            "message": st.one_of(
                json_values,
                st.fixed_dictionaries({}, optional={"usage": json_values, "id": json_values}),
            ),
            "usage": json_values,
            "error": json_values,
        },
    ),
)


@FUZZ
@given(
    events=st.lists(st.tuples(event_names, anthropic_data), max_size=12),
    early=st.booleans(),
    sniff=st.booleans(),
)
def test_any_events_repair_to_events_or_an_upstream_error(
    events: list[tuple[str, Any]], early: bool, sniff: bool
) -> None:
    repairer = AnthropicStreamRepairer(
        client_model="claude-sonnet-4-6", message_id="msg_fuzz", tool_names=TOOLS if sniff else ()
    )
    try:
        out = repairer.start() if early else []
        for event in events:
            out += repairer.feed(event)
        out += repairer.finish()
    except UpstreamError:
        return
    if out and out[0][0] == "error":
        # An error before any message_start is passed on alone, by design: the relay then still
        # answers with an HTTP error instead of a stream.
        assert len(out) == 1 and repairer.error is not None
    elif out:
        assert_valid_stream(out, allow_error=True)
    orjson.dumps(repairer.message())


messages = st.fixed_dictionaries(
    {},
    optional={
        "role": json_values,
        "content": st.one_of(st.text(max_size=30), json_values),
        "reasoning_content": json_values,
        "tool_calls": st.one_of(
            json_values,
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "id": json_values,
                        "function": st.one_of(
                            json_values,
                            st.fixed_dictionaries(
                                {},
                                optional={
                                    "name": st.one_of(st.sampled_from(TOOLS), json_values),
                                    "arguments": st.one_of(
                                        st.sampled_from(['{"a": 1}', "{", ""]), json_values
                                    ),
                                },
                            ),
                        ),
                    },
                ),
                max_size=2,
            ),
        ),
        "function_call": json_values,
    },
)
answers = st.fixed_dictionaries(
    {},
    optional={
        # OpenAI's shape…
        "choices": st.one_of(
            json_values,
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "message": st.one_of(messages, json_values),
                        "finish_reason": st.one_of(
                            st.sampled_from(["stop", "length"]), json_values
                        ),
                    },
                ),
                max_size=2,
            ),
        ),
        "usage": json_values,
        # …Ollama's…
        "message": st.one_of(messages, json_values),
        "done": json_values,
        "done_reason": json_values,
        # …and Anthropic's.
        "type": st.one_of(st.just("message"), json_values),
        "content": st.one_of(st.lists(st.one_of(blocks, json_values), max_size=3), json_values),
        "stop_reason": json_values,
    },
)


@pytest.mark.parametrize("dialect", ["openai", "ollama", "anthropic"])
@FUZZ
@given(body=st.one_of(answers.map(orjson.dumps), st.binary(max_size=50)))
def test_any_non_streamed_answer_reads_to_a_message_or_an_error(dialect: str, body: bytes) -> None:
    try:
        message, _ = PROTOCOLS.by_name(dialect).parse(body, REPLY)
    except GatewayError:
        return
    orjson.dumps(message)


frames = st.one_of(
    chunks.map(lambda c: b"data: " + orjson.dumps(c) + b"\n\n"),
    st.tuples(event_names, anthropic_data).map(
        lambda e: b"event: " + e[0].encode() + b"\ndata: " + orjson.dumps(e[1]) + b"\n\n"
    ),
    answers.map(lambda v: orjson.dumps(v) + b"\n"),  # an Ollama line
    json_values.map(lambda v: orjson.dumps(v) + b"\n"),
    st.sampled_from([b"data: [DONE]\n\n", b": ping\n\n", b"\r\n", b"data: {\n\n"]),
    st.binary(max_size=30),
)


@pytest.mark.parametrize("dialect", ["openai", "ollama", "anthropic"])
@FUZZ
@given(pieces=st.lists(frames, max_size=8), cut=st.integers(1, 64))
def test_any_bytes_from_a_backend_decode_to_events_or_an_error(
    dialect: str, pieces: list[bytes], cut: int
) -> None:
    state = PROTOCOLS.by_name(dialect).decoder(REPLY)
    data = b"".join(pieces)
    try:
        for start in range(0, len(data), cut):  # reads that cut anywhere, frames included
            _, done, failure = state.feed(data[start : start + cut])
            if failure is not None or done:
                break
        state.finish()
    except UpstreamError:
        pass
