"""The native stream repairer: recorded backend streams in, Anthropic's exact grammar out.

Shapes and sources are in native.py (Ollama's converter, ollama#17101, llama.cpp's server,
LM Studio's documented sequence)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import UpstreamError
from gateway.repair.stream import AnthropicStreamRepairer, Event
from gateway.translate.sse import AnthropicSSEDecoder, encode
from gateway.translate.thinking import SIGNATURE

from ..translate.grammar import accumulate, assert_valid_stream, parse_sse
from .native import (
    MESSAGE_STOP,
    PING,
    RECORDED,
    SIGNED,
    TEXT_SHELL,
    THINKING_SHELL,
    block_start,
    block_stop,
    message,
    message_delta,
    message_start,
    partial_json,
    signature,
    text,
    thinking,
    usage,
)

MODEL = "claude-sonnet-4-6"
MID = "msg_gateway"
END = [message_delta({"stop_reason": "end_turn"}, {"output_tokens": 3}), MESSAGE_STOP]


def repair(
    events: list[Event], tools: Any = (), *, finish: bool = True
) -> tuple[list[Event], AnthropicStreamRepairer]:
    repairer = AnthropicStreamRepairer(client_model=MODEL, message_id=MID, tool_names=tools)
    out: list[Event] = []
    for event in events:
        out += repairer.feed(event)
    if finish:
        out += repairer.finish()
    return out, repairer


@pytest.mark.parametrize("name", list(RECORDED))
def test_recorded_native_streams(name: str) -> None:
    events, expected, repairs = RECORDED[name]
    out, repairer = repair(events)
    assert_valid_stream(out)
    assert accumulate(out) == expected
    assert repairer.message() == expected
    assert repairer.repairs == repairs
    assert repairer.stop_reason == expected["stop_reason"]
    assert repairer.usage == expected["usage"]
    assert repairer.has_content


def test_a_valid_stream_only_gets_the_clients_model_and_one_input_delta() -> None:
    out, _ = repair(RECORDED["lm-studio"][0])
    start = out[0][1]["message"]
    assert (start["id"], start["model"], start["usage"]) == (MID, MODEL, usage(120, 0))
    assert out[1:] == [
        block_start(0, TEXT_SHELL),
        text(0, "Listing"),
        text(0, " files."),
        block_stop(0),
        # The gateway's id, not the backend's toolu_7.
        block_start(1, {"type": "tool_use", "id": "toolu_gateway_1", "name": "Bash", "input": {}}),
        partial_json(1, '{"command":"ls -la"}'),
        block_stop(1),
        message_delta({"stop_reason": "tool_use", "stop_sequence": None}, usage(120, 17)),
        MESSAGE_STOP,
    ]


def test_the_backends_id_is_kept_when_the_gateway_gives_none() -> None:
    repairer = AnthropicStreamRepairer(client_model=MODEL)
    out = repairer.feed(message_start("qwen3:4b", 5, "msg_from_ollama"))
    assert out[0][1]["message"]["id"] == "msg_from_ollama"


def test_a_second_message_start_is_dropped() -> None:
    events = [
        message_start("m", 10),
        block_start(0, TEXT_SHELL),
        text(0, "Hi"),
        message_start("m", 10),
        block_stop(0),
        *END,
    ]
    out, repairer = repair(events)
    assert_valid_stream(out)
    assert [name for name, _ in out].count("message_start") == 1
    assert repairer.repairs == ["a second message_start dropped"]


def test_usage_is_merged_and_filled_in() -> None:
    events = [
        message_start("m", 0),
        block_start(0, TEXT_SHELL),
        text(0, "Hi"),
        block_stop(0),
        message_delta({"stop_reason": "end_turn"}),
        message_delta({}, {"input_tokens": 40, "output_tokens": 2, "cache_read_input_tokens": 8}),
        MESSAGE_STOP,
    ]
    out, repairer = repair(events)
    assert_valid_stream(out)
    final = [data for name, data in out if name == "message_delta"]
    assert final == [
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {
                "input_tokens": 40,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 8,
                "output_tokens": 2,
            },
        }
    ]
    assert repairer.repairs == [
        "message_delta without usage; usage added",
        "several message_delta events merged into one",
    ]


def test_a_message_delta_without_usage_gets_message_starts_input_tokens() -> None:
    events = [message_start("m", 33), block_start(0, TEXT_SHELL), text(0, "x"), block_stop(0)]
    out, _ = repair([*events, message_delta({"stop_reason": "max_tokens"}), MESSAGE_STOP])
    assert out[-2] == message_delta(
        {"stop_reason": "max_tokens", "stop_sequence": None}, usage(33, 0)
    )


def test_message_stop_without_message_delta_gets_one() -> None:
    out, repairer = repair(
        [message_start("m", 3), block_start(0, TEXT_SHELL), text(0, "x"), MESSAGE_STOP]
    )
    assert_valid_stream(out)
    assert out[-2][1]["delta"]["stop_reason"] == "end_turn"
    assert repairer.repairs == [
        "a block left open at the end was closed",
        "stop_reason missing; end_turn sent",
        "message_delta missing; it was added",
    ]


def test_done_and_missing_event_lines_through_the_decoder() -> None:
    raw = (
        encode([message_start("qwen3", 4), block_start(0, TEXT_SHELL), text(0, "Hey")])
        + b'data: {"type":"content_block_stop","index":0}\n\n'
        + encode(END)
        + b"data: [DONE]\n\n"
    )
    decoder = AnthropicSSEDecoder()
    repairer = AnthropicStreamRepairer(client_model=MODEL, message_id=MID)
    out: list[Event] = []
    for i in range(0, len(raw), 7):
        for event in decoder.feed(raw[i : i + 7]):
            out += repairer.feed(event)
    for event in decoder.flush():
        out += repairer.feed(event)
    out += repairer.finish()
    streamed = parse_sse(encode(out))
    assert_valid_stream(streamed)
    assert accumulate(streamed)["content"] == [{"type": "text", "text": "Hey"}]
    assert repairer.repairs == []


def test_pings_pass_only_after_message_start() -> None:
    out, _ = repair([PING, message_start("m", 1), PING, *END])
    assert [name for name, _ in out] == ["message_start", "ping", "message_delta", "message_stop"]


def test_an_error_event_ends_the_stream() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    out, repairer = repair(
        [message_start("m", 1), block_start(0, TEXT_SHELL), text(0, "Hi"), ("error", error), *END]
    )
    assert_valid_stream(out, allow_error=True)
    assert out[-1] == ("error", error)
    assert repairer.error == error["error"]
    assert repairer.finish() == []


def test_an_error_before_anything_comes_alone() -> None:
    repairer = AnthropicStreamRepairer(client_model=MODEL)
    assert repairer.feed(("error", {"type": "error"})) == [
        (
            "error",
            {
                "type": "error",
                "error": {"type": "api_error", "message": "the backend reported an error"},
            },
        )
    ]


def test_a_stream_that_ends_after_its_blocks_and_stop_reason_is_completed() -> None:
    events = [
        message_start("m", 2),
        block_start(0, TEXT_SHELL),
        text(0, "Done"),
        block_stop(0),
        message_delta({"stop_reason": "end_turn"}, {"output_tokens": 1}),
    ]
    out, repairer = repair(events)
    assert_valid_stream(out)
    assert out[-1] == MESSAGE_STOP
    assert repairer.repairs == ["the stream ended without message_stop; it was added"]


@pytest.mark.parametrize(
    ("events", "where"),
    [
        ([], "no message_start"),
        (
            [message_start("m", 2), block_start(0, TEXT_SHELL), text(0, "Hal")],
            "inside a content block",
        ),
        ([message_start("m", 2), block_start(0, TEXT_SHELL), block_stop(0)], "no stop_reason"),
    ],
)
def test_a_stream_cut_before_the_model_finished_is_an_upstream_error(
    events: list[Event], where: str
) -> None:
    _, repairer = repair(events, finish=False)
    with pytest.raises(UpstreamError, match=f"ended before the model finished \\({where}\\)"):
        repairer.finish()


def test_late_and_stray_deltas() -> None:
    tool = {"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}
    events = [
        message_start("m", 2),
        block_start(0, TEXT_SHELL),
        text(0, "a"),
        block_stop(0),
        text(0, "b"),
        block_start(1, tool),
        partial_json(1, '{"command": "ls"}'),
        block_stop(1),
        partial_json(1, "}"),
        signature(1, "sig"),
        block_stop(1),
        *END,
    ]
    out, repairer = repair(events)
    assert_valid_stream(out)
    assert accumulate(out)["content"] == [
        {"type": "text", "text": "a"},
        {"type": "text", "text": "b"},
        {"type": "tool_use", "id": "toolu_gateway_2", "name": "Bash", "input": {"command": "ls"}},
    ]
    assert repairer.repairs == [
        "a delta after its block closed; it went to a new block",
        "tool input after its block closed dropped",
        "a signature_delta outside a thinking block dropped",
        "a content_block_stop for no open block dropped",
        "stop_reason end_turn with a tool call; tool_use sent",
    ]


def test_a_thinking_signature_is_kept() -> None:
    events = [
        message_start("m", 2),
        block_start(0, THINKING_SHELL),
        thinking(0, "hm"),
        signature(0, "EqQBCgIYAhIM"),
        block_stop(0),
        *END,
    ]
    out, repairer = repair(events)
    assert accumulate(out)["content"] == [
        {"type": "thinking", "thinking": "hm", "signature": "EqQBCgIYAhIM"}
    ]
    assert repairer.repairs == []


def test_tool_blocks_whatever_the_backend_left_out() -> None:
    events = [
        message_start("m", 2),
        block_start(0, {"type": "tool_use", "name": "Read", "input": {"file_path": "a"}}),
        block_stop(0),
        block_start(1, {"type": "tool_use", "id": "t2", "name": "Bash", "input": {}}),
        partial_json(1, '{"command": "ls",}'),
        block_stop(1),
        block_start(2, {"type": "tool_use", "id": "t3", "input": {}}),
        block_stop(2),
        message_delta({"stop_reason": "end_turn"}, {"output_tokens": 9}),
        MESSAGE_STOP,
    ]
    out, repairer = repair(events)
    assert_valid_stream(out)
    result = accumulate(out)
    assert result["content"] == [
        {"type": "tool_use", "id": "toolu_gateway_0", "name": "Read", "input": {"file_path": "a"}},
        {"type": "tool_use", "id": "toolu_gateway_1", "name": "Bash", "input": {"command": "ls"}},
    ]
    assert result["stop_reason"] == "tool_use"
    assert repairer.repairs == [
        "tool call Bash: input was not clean JSON (repaired)",
        "a tool_use block without a name dropped",
        "stop_reason end_turn with a tool call; tool_use sent",
    ]


def test_openai_stop_reasons_are_mapped() -> None:
    out, repairer = repair(
        [message_start("m", 1), message_delta({"stop_reason": "length"}), MESSAGE_STOP]
    )
    assert out[-2][1]["delta"]["stop_reason"] == "max_tokens"
    assert "stop_reason 'length' is not Anthropic's; max_tokens sent" in repairer.repairs


def test_a_block_type_this_layer_does_not_know_passes_whole() -> None:
    redacted = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}
    out, _ = repair([message_start("m", 1), block_start(0, redacted), block_stop(0), *END])
    assert out[1:3] == [block_start(0, redacted), block_stop(0)]


def test_text_tool_calls_in_a_native_stream() -> None:
    # ollama#15529: qwen2.5-coder's call arrives as text from Ollama's own Anthropic API.
    raw = '{"name": "Write", "arguments": {"file_path": "CLAUDE.md", "content": "# Notes\\n"}}'
    events = [message_start("qwen2.5-coder", 50), block_start(0, TEXT_SHELL)]
    events += [text(0, raw[i : i + 6]) for i in range(0, len(raw), 6)]
    events += [block_stop(0), message_delta({"stop_reason": "end_turn"}, {"output_tokens": 40})]
    out, repairer = repair([*events, MESSAGE_STOP], tools=["Write", "Read"])
    assert_valid_stream(out)
    assert (
        accumulate(out)
        == repairer.message()
        == message(
            [
                {
                    "type": "tool_use",
                    "id": "toolu_gateway_0",
                    "name": "Write",
                    "input": {"file_path": "CLAUDE.md", "content": "# Notes\n"},
                }
            ],
            "tool_use",
            usage(50, 40),
        )
    )
    assert repairer.repairs == [
        "tool call written as text repaired (bare JSON format)",
        "stop_reason end_turn with a tool call; tool_use sent",
    ]


# Properties: a valid message's stream, cut and relabelled any way, comes out whole.
WORDS = st.text(alphabet="abc xyz.\n", min_size=1, max_size=24)
BLOCKS = st.lists(
    st.one_of(
        st.tuples(st.just("text"), WORDS),
        st.tuples(st.just("thinking"), WORDS, st.sampled_from(["", "sig-1"])),
        st.tuples(
            st.just("tool_use"),
            st.sampled_from(["Bash", "Read"]),
            st.dictionaries(
                st.text(max_size=4), st.integers(-999, 999) | st.text(max_size=6), max_size=3
            ),
        ),
    ),
    min_size=1,
    max_size=5,
)


def _cut(value: str, data: st.DataObject) -> list[str]:
    if len(value) < 2:
        return [value]
    cuts = sorted(data.draw(st.sets(st.integers(1, len(value) - 1), max_size=4)))
    return [value[a:b] for a, b in zip([0, *cuts], [*cuts, len(value)], strict=True)]


def _block_events(k: int, block: tuple[Any, ...], data: st.DataObject, index: int) -> list[Event]:
    kind = block[0]
    if kind == "text":
        return [block_start(index, TEXT_SHELL), *(text(index, p) for p in _cut(block[1], data))]
    if kind == "thinking":
        events = [block_start(index, THINKING_SHELL)]
        events += [thinking(index, piece) for piece in _cut(block[1], data)]
        return events + ([signature(index, block[2])] if block[2] else [])
    shell = {"type": "tool_use", "id": f"call_{k}", "name": block[1], "input": {}}
    pieces = _cut(orjson.dumps(block[2]).decode(), data)
    return [block_start(index, shell), *(partial_json(index, piece) for piece in pieces)]


def _expected(blocks: list[tuple[Any, ...]]) -> Any:
    content: list[dict[str, Any]] = []
    for k, block in enumerate(blocks):
        if block[0] == "text":
            content.append({"type": "text", "text": block[1]})
        elif block[0] == "thinking":
            content.append(
                {"type": "thinking", "thinking": block[1], "signature": block[2] or SIGNATURE}
            )
        else:
            # The gateway's id for the block at index k, whatever the backend called it.
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_gateway_{k}",
                    "name": block[1],
                    "input": block[2],
                }
            )
    stop = "tool_use" if any(block[0] == "tool_use" for block in blocks) else "end_turn"
    return message(content, stop, usage(7, 11))


def _ending(blocks: list[tuple[Any, ...]]) -> list[Event]:
    stop = "tool_use" if any(block[0] == "tool_use" for block in blocks) else "end_turn"
    return [message_delta({"stop_reason": stop}, {"output_tokens": 11}), MESSAGE_STOP]


@settings(max_examples=120, deadline=None)
@given(blocks=BLOCKS, labels=st.sampled_from(["in order", "all zero", "shifted"]), data=st.data())
def test_any_split_and_any_indexes_keep_the_message(
    blocks: list[tuple[Any, ...]], labels: str, data: st.DataObject
) -> None:
    events = [message_start("local", 7)]
    for k, block in enumerate(blocks):
        index = {"in order": k, "all zero": 0, "shifted": 10 + 3 * k}[labels]
        events += [*_block_events(k, block, data, index), block_stop(index)]
    events += _ending(blocks)
    for _ in range(data.draw(st.integers(0, 3))):
        events.insert(data.draw(st.integers(1, len(events) - 1)), PING)
    out, repairer = repair(events)
    assert_valid_stream(out)
    assert accumulate(out) == repairer.message() == _expected(blocks)
    assert set(repairer.repairs) <= {SIGNED}


@settings(max_examples=120, deadline=None)
@given(blocks=BLOCKS, data=st.data())
def test_any_interleaving_of_open_blocks_keeps_the_grammar_and_the_content(
    blocks: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    queues = [[*_block_events(k, block, data, k), block_stop(k)] for k, block in enumerate(blocks)]
    events, started = [message_start("local", 7)], 0
    while any(queues):
        ready = [k for k in range(started) if queues[k]] + (
            [started] if started < len(queues) else []
        )
        k = data.draw(st.sampled_from(ready))
        started = max(started, k + 1)
        events.append(queues[k].pop(0))
    out, repairer = repair(events + _ending(blocks))
    assert_valid_stream(out)
    result = accumulate(out)
    for kind in ("text", "thinking"):
        sent = "".join(d["delta"][kind] for n, d in events if d.get("delta", {}).get(kind))
        got = "".join(block[kind] for block in result["content"] if block["type"] == kind)
        assert got == sent
    stops = [d["index"] for n, d in events if n == "content_block_stop"]
    calls = [(blocks[k][1], blocks[k][2]) for k in stops if blocks[k][0] == "tool_use"]
    assert [(b["name"], b["input"]) for b in result["content"] if b["type"] == "tool_use"] == calls
