"""SSE framing out (Anthropic events) and in (an OpenAI byte stream cut anywhere)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.translate.sse import SSEDecoder, encode, encode_error

from .grammar import parse_sse


def test_encode_frames() -> None:
    events = [
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
