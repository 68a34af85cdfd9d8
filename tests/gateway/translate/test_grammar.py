"""The grammar checker itself: it accepts Anthropic's canonical stream and rejects each break."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from gateway.translate.sse import encode, encode_error

from .grammar import Event, accumulate, assert_valid_stream, parse_sse

USAGE = {"input_tokens": 5, "output_tokens": 0}
MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "m",
    "content": [],
    "stop_reason": None,
    "stop_sequence": None,
    "usage": USAGE,
}


def good() -> list[Event]:
    return [
        ("message_start", {"type": "message_start", "message": copy.deepcopy(MESSAGE)}),
        ("ping", {"type": "ping"}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "hm"},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": "sig"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "text", "text": ""},
            },
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
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 2,
                "content_block": {"type": "tool_use", "id": "t", "name": "Bash", "input": {}},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": '{"a":'},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": " 1}"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 2}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"input_tokens": 5, "output_tokens": 9},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def test_canonical_stream_is_valid_and_accumulates() -> None:
    events = good()
    assert_valid_stream(events)
    assert parse_sse(encode(events)) == events
    message = accumulate(events)
    assert message["content"] == [
        {"type": "thinking", "thinking": "hm", "signature": "sig"},
        {"type": "text", "text": "Hi"},
        {"type": "tool_use", "id": "t", "name": "Bash", "input": {"a": 1}},
    ]
    assert message["usage"] == {"input_tokens": 5, "output_tokens": 9}
    assert message["stop_reason"] == "tool_use"


def _drop(i: int) -> Callable[[list[Event]], None]:
    def change(events: list[Event]) -> None:
        events.pop(i)

    return change


def _set(i: int, path: tuple[Any, ...], value: Any) -> Callable[[list[Event]], None]:
    def change(events: list[Event]) -> None:
        target: Any = events[i][1]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


BREAKS: dict[str, Callable[[list[Event]], None]] = {
    "no message_start": _drop(0),
    "second message_start": lambda ev: ev.insert(3, ev[0]),
    "message_start without usage": _set(0, ("message", "usage"), None),
    "message_start with content": _set(0, ("message", "content"), [{"type": "text", "text": "x"}]),
    "delta before its block": lambda ev: ev.insert(2, ev[7]),
    "overlapping blocks": _drop(5),
    "index skipped": _set(6, ("index",), 2),
    "delta type does not match block": _set(
        7, ("delta",), {"type": "thinking_delta", "thinking": "x"}
    ),
    "thinking closed without signature": _drop(4),
    "delta after the signature": lambda ev: ev.insert(5, ev[3]),
    "stop of another index": _set(8, ("index",), 0),
    "tool input not JSON": _set(10, ("delta", "partial_json"), "[1"),
    "tool input not an object": lambda ev: (
        _set(11, ("delta", "partial_json"), "]")(ev)
        or _set(10, ("delta", "partial_json"), "[1")(ev)
    ),
    "block left open": _drop(12),
    "no message_delta": _drop(13),
    "message_delta without usage": _set(13, ("usage",), None),
    "invalid stop_reason": _set(13, ("delta", "stop_reason"), "error"),
    "two message_delta": lambda ev: ev.insert(13, ev[13]),
    "no message_stop": _drop(14),
    "event after message_stop": lambda ev: ev.append(("ping", {"type": "ping"})),
    "type differs from event name": _set(1, ("type",), "pong"),
    "unknown event": lambda ev: ev.insert(1, ("done", {"type": "done"})),
    "error event": lambda ev: ev.insert(
        9, ("error", {"type": "error", "error": {"type": "api_error", "message": "x"}})
    ),
}


@pytest.mark.parametrize("name", list(BREAKS))
def test_each_break_is_caught(name: str) -> None:
    events = good()
    BREAKS[name](events)
    with pytest.raises(AssertionError):
        assert_valid_stream(events)


def test_a_final_error_event_is_allowed_when_asked() -> None:
    events = good()[:8] + parse_sse(encode_error("api_error", "backend died"))
    assert_valid_stream(events, allow_error=True)
    with pytest.raises(AssertionError):
        assert_valid_stream(events)


def test_parse_sse_needs_event_lines() -> None:
    with pytest.raises(AssertionError, match="without an `event:` line"):
        parse_sse(b'data: {"type":"ping"}\n\n')
    assert parse_sse(b'event: ping\r\ndata: {"type":"ping"}\r\n\r\n: comment\n\n') == [
        ("ping", {"type": "ping"})
    ]
