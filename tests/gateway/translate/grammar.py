"""Anthropic's SSE grammar as a checker, shared by the translator and the integration tests.

`assert_valid_stream` holds a stream to what Claude Code and the Anthropic SDKs need (one
message_start first with usage, blocks started before their deltas, one block open at a time
with indexes 0, 1, 2…, delta types matching the block, one signature_delta closing each
thinking block, tool input that parses, one message_delta with usage, message_stop last);
`parse_sse` reads frames back from bytes; `accumulate` rebuilds the message as the SDK would.
"""

from __future__ import annotations

import copy
import json
from typing import Any

Event = tuple[str, dict[str, Any]]

STOP_REASONS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
_DELTAS = {
    "text": {"text_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
    "tool_use": {"input_json_delta"},
}


def parse_sse(data: bytes) -> list[Event]:
    """Frames → (event, data) pairs; every frame must name its event (the SDKs need it)."""
    text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    events: list[Event] = []
    for frame in text.split("\n\n"):
        name: str | None = None
        lines: list[str] = []
        for line in frame.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                lines.append(value)
        if not lines and name is None:
            continue
        assert name is not None, f"a frame without an `event:` line: {frame!r}"
        assert lines, f"event {name} has no data"
        events.append((name, json.loads("\n".join(lines))))
    return events


def assert_valid_stream(events: list[Event], *, allow_error: bool = False) -> None:
    assert events, "empty stream"
    assert events[0][0] == "message_start", f"first event is {events[0][0]}"
    open_block: dict[str, Any] | None = None
    open_index = -1
    next_index = 0
    json_parts: list[str] = []
    signed = False
    seen_delta = False
    stopped = False
    for position, (name, data) in enumerate(events):
        where = f"event {position} ({name})"
        assert not stopped, f"{where} after message_stop"
        assert isinstance(data, dict) and data.get("type") == name, f"{where}: type {data!r}"
        if name == "message_start":
            assert position == 0, f"{where}: a second message_start"
            message = data["message"]
            assert message["type"] == "message" and message["role"] == "assistant", where
            assert message["content"] == [], f"{where}: content must start empty"
            assert isinstance(message["id"], str) and isinstance(message["model"], str), where
            _assert_usage(message.get("usage"), where)
        elif name == "ping":
            pass
        elif name == "error":
            assert allow_error, f"{where}: {data}"
            assert isinstance(data["error"]["type"], str), where
            assert isinstance(data["error"]["message"], str), where
            assert position == len(events) - 1, f"{where}: events after an error"
            return
        elif name == "content_block_start":
            assert not seen_delta, f"{where}: a block after message_delta"
            assert open_block is None, f"{where}: block {open_index} is still open"
            assert data["index"] == next_index, f"{where}: index {data['index']} != {next_index}"
            open_block = data["content_block"]
            _assert_block_shell(open_block, where)
            open_index, next_index = data["index"], next_index + 1
            json_parts, signed = [], False
        elif name == "content_block_delta":
            assert open_block is not None, f"{where}: no open block"
            assert data["index"] == open_index, f"{where}: index {data['index']} is not open"
            delta = data["delta"]
            kind = open_block["type"]
            assert delta["type"] in _DELTAS.get(kind, set()), f"{where}: {delta['type']} in {kind}"
            assert not signed, f"{where}: a delta after the signature"
            if delta["type"] == "text_delta":
                assert isinstance(delta["text"], str), where
            elif delta["type"] == "thinking_delta":
                assert isinstance(delta["thinking"], str), where
            elif delta["type"] == "signature_delta":
                assert isinstance(delta["signature"], str) and delta["signature"], where
                signed = True
            else:
                assert isinstance(delta["partial_json"], str), where
                json_parts.append(delta["partial_json"])
        elif name == "content_block_stop":
            assert open_block is not None and data["index"] == open_index, f"{where}: not open"
            if open_block["type"] == "thinking":
                assert signed, f"{where}: thinking block {open_index} closed without a signature"
            if open_block["type"] == "tool_use":
                raw = "".join(json_parts)
                try:
                    value = json.loads(raw) if raw else {}
                except ValueError:
                    raise AssertionError(f"{where}: tool input {raw!r} is not JSON") from None
                assert isinstance(value, dict), f"{where}: tool input {raw!r} is not an object"
            open_block = None
        elif name == "message_delta":
            assert open_block is None, f"{where}: block {open_index} is still open"
            assert not seen_delta, f"{where}: a second message_delta"
            seen_delta = True
            assert data["delta"]["stop_reason"] in STOP_REASONS, f"{where}: {data['delta']}"
            assert "stop_sequence" in data["delta"], where
            _assert_usage(data.get("usage"), where)
        elif name == "message_stop":
            assert seen_delta, f"{where}: message_stop without message_delta"
            stopped = True
        else:
            raise AssertionError(f"{where}: unknown event")
    assert stopped, "the stream does not end with message_stop"


def accumulate(events: list[Event]) -> dict[str, Any]:
    """The message a client builds from the events (as the Anthropic SDK's stream helper does)."""
    message: dict[str, Any] = {}
    json_parts: dict[int, list[str]] = {}
    for name, data in events:
        if name == "message_start":
            message = copy.deepcopy(data["message"])
        elif name == "content_block_start":
            message["content"].append(copy.deepcopy(data["content_block"]))
        elif name == "content_block_delta":
            block = message["content"][data["index"]]
            delta = data["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "input_json_delta":
                json_parts.setdefault(data["index"], []).append(delta["partial_json"])
        elif name == "content_block_stop":
            block = message["content"][data["index"]]
            if block["type"] == "tool_use":
                raw = "".join(json_parts.get(data["index"], []))
                block["input"] = json.loads(raw) if raw else {}
        elif name == "message_delta":
            message["stop_reason"] = data["delta"]["stop_reason"]
            message["stop_sequence"] = data["delta"]["stop_sequence"]
            message["usage"].update(data["usage"])
    return message


def _assert_usage(usage: Any, where: str) -> None:
    assert isinstance(usage, dict), f"{where}: no usage"
    for key in ("input_tokens", "output_tokens"):
        assert isinstance(usage.get(key), int) and usage[key] >= 0, f"{where}: usage {usage}"


def _assert_block_shell(block: dict[str, Any], where: str) -> None:
    kind = block.get("type")
    if kind == "text":
        assert block["text"] == "", f"{where}: text must start empty"
    elif kind == "thinking":
        assert block["thinking"] == "", f"{where}: thinking must start empty"
    elif kind == "tool_use":
        assert isinstance(block["id"], str) and block["id"], f"{where}: tool_use without id"
        assert isinstance(block["name"], str) and block["name"], f"{where}: tool_use without name"
        assert block["input"] == {}, f"{where}: tool input must start empty"
    else:
        raise AssertionError(f"{where}: unexpected block type {kind!r}")
