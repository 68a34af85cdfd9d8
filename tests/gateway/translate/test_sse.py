"""SSE framing out (Anthropic events) and in (an OpenAI or a native Anthropic byte stream cut
anywhere)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.translate.sse import AnthropicSSEDecoder, SSEDecoder, encode, encode_error

from .grammar import parse_sse


def test_encode_frames() -> None:
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_stop", {"type": "message_stop"}),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "é\n"},
            },
        ),
    ]
    assert encode(events) == (
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
        b'event: ping\ndata: {"type":"ping"}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"\xc3\xa9\\n"}}\n\n'
    )
    assert parse_sse(encode(events)) == events
    assert encode([]) == b""


def test_encode_error() -> None:
    frame = encode_error("overloaded_error", "the model is loading")
    assert frame == (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        b'"message":"the model is loading"}}\n\n'
    )


def decode_all(pieces: list[bytes]) -> list[str]:
    decoder = SSEDecoder()
    out: list[str] = []
    for piece in pieces:
        out += decoder.feed(piece)
    return out


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'data: {"a":1}\n\ndata: [DONE]\n\n', ['{"a":1}', "[DONE]"]),
        (b'data: {"a":1}\r\n\r\ndata: {"b":2}\r\n\r\n', ['{"a":1}', '{"b":2}']),
        (b"data: one\r\rdata: two\r\r", ["one", "two"]),
        (b": keep-alive\n\ndata: x\n: note\n\n", ["x"]),
        (b"data: first\ndata: second\n\n", ["first\nsecond"]),
        (b"event: completion\nid: 7\nretry: 1000\ndata: y\n\n", ["y"]),
        (b"data:no-space\n\ndata:  two spaces\n\n", ["no-space", " two spaces"]),
        (b"data\n\ndata:\n\n", ["", ""]),
        (b"\xef\xbb\xbfdata: bom\n\n", ["bom"]),
        (b"datum: no\n\ndata: yes\n\n", ["yes"]),
        (b"id: 1\n\n\n\ndata: z\n\n", ["z"]),
        (b"data: incomplete", []),
    ],
    ids=[
        "lf",
        "crlf",
        "cr",
        "comments",
        "multi-line",
        "other fields",
        "spaces",
        "empty data",
        "bom",
        "other names",
        "no data",
        "incomplete",
    ],
)
def test_decoder(raw: bytes, expected: list[str]) -> None:
    assert decode_all([raw]) == expected
    assert decode_all([raw[i : i + 1] for i in range(len(raw))]) == expected


def test_flush_delivers_an_event_without_its_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a":1}\n\ndata: [DONE]') == ['{"a":1}']
    assert decoder.flush() == ["[DONE]"]
    assert decoder.flush() == []
    assert SSEDecoder().flush() == []


def test_split_utf8_and_crlf_halves() -> None:
    raw = 'data: {"t":"é✓"}\r\n\r\n'.encode()
    cut = raw.index(b"\xa9")
    assert decode_all([raw[:cut], raw[cut:-3], raw[-3:-1], raw[-1:]]) == ['{"t":"é✓"}']


payloads = st.lists(
    st.one_of(
        st.just("[DONE]"),
        st.builds(
            lambda v: json.dumps(v, ensure_ascii=False),
            st.dictionaries(st.text(max_size=5), st.text(max_size=8), max_size=3),
        ),
        st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12),
        st.lists(
            st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=6),
            min_size=2,
            max_size=3,
        ).map("\n".join),
    ),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(
    payloads=payloads,
    newline=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    extras=st.lists(
        st.sampled_from([b": ping", b"event: chunk", b"id: 42", b"retry: 10"]), max_size=3
    ),
    data=st.data(),
)
def test_decoder_for_any_split(
    payloads: list[str], newline: bytes, extras: list[bytes], data: st.DataObject
) -> None:
    raw = b""
    for payload in payloads:
        lines = list(extras) + [b"data: " + line.encode() for line in payload.split("\n")]
        raw += newline.join(lines) + newline + newline
    cuts = sorted(data.draw(st.sets(st.integers(0, len(raw)), max_size=8)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    assert decode_all(pieces) == payloads


# A native backend's stream, as Ollama's docs/api/anthropic-compatibility and llama.cpp's
# tools/server/tests/unit/test_compat_anthropic.py show it (llama.cpp names every frame).
NATIVE = (
    b"event: message_start\n"
    b'data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
    b'"model":"qwen3-coder","content":[],"usage":{"input_tokens":9,"output_tokens":0}}}\n\n'
    b'event: ping\ndata: {"type":"ping"}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"\xc3\xa9"}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    b"data: [DONE]\n\n"
)


def decode_native(pieces: list[bytes]) -> tuple[list[tuple[str, Any]], list[str]]:
    decoder = AnthropicSSEDecoder()
    out: list[tuple[str, Any]] = []
    for piece in pieces:
        out += decoder.feed(piece)
    return out + decoder.flush(), decoder.warnings


def test_native_decoder_names_events_and_skips_done() -> None:
    events, warnings = decode_native([NATIVE])
    assert [name for name, _ in events] == [
        "message_start",
        "ping",
        "content_block_delta",
        "message_stop",
    ]
    assert events[2][1]["delta"]["text"] == "é"
    assert warnings == []
    assert decode_native([NATIVE[i : i + 1] for i in range(len(NATIVE))]) == (events, [])
    assert decode_native([NATIVE.replace(b"\n", b"\r\n")]) == (events, [])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # The data's type names the event; the event line only when the data has none.
        (b'event: message_stop\ndata: {"type":"ping"}\n\n', [("ping", {"type": "ping"})]),
        (
            b'event: error\ndata: {"error":{"message":"x"}}\n\n',
            [("error", {"error": {"message": "x"}})],
        ),
        (b'data: {"type":"message_stop"}\n\n', [("message_stop", {"type": "message_stop"})]),
        (b": comment\nevent: ping\n\n", []),
        (b'data: {"type":"message_stop"}', [("message_stop", {"type": "message_stop"})]),
    ],
    ids=["type wins", "event line", "no event line", "no data", "no blank line"],
)
def test_native_decoder(raw: bytes, expected: list[tuple[str, Any]]) -> None:
    assert decode_native([raw]) == (expected, [])


def test_native_decoder_skips_data_that_is_not_an_object() -> None:
    events, warnings = decode_native([b'data: {not json\n\ndata: [1]\n\ndata: {"type":"ping"}\n\n'])
    assert events == [("ping", {"type": "ping"})]
    assert len(warnings) == 2 and all("not a JSON object" in w for w in warnings)
