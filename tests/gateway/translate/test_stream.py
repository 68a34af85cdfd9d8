"""Recorded chunk sequences in, exact Anthropic event lists out; the translator's edge cases."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from gateway.errors import UpstreamError
from gateway.translate.response import openai_to_anthropic, openai_to_anthropic_with_notes
from gateway.translate.stream import Event, StreamTranslator, events_from_message
from gateway.translate.thinking import SIGNATURE

from . import chunks
from .chunks import llama_cpp
from .grammar import accumulate, assert_valid_stream

MID = "msg_0a1b2c3d"
MODEL = "claude-sonnet-4-6"


def run(
    stream: list[dict[str, Any]], input_tokens: int = 0
) -> tuple[list[Event], StreamTranslator]:
    translator = StreamTranslator(message_id=MID, client_model=MODEL, input_tokens=input_tokens)
    events: list[Event] = []
    for chunk in stream:
        events += translator.feed(chunk)
    events += translator.finish()
    return events, translator


def usage(input_tokens: int, output: int, cached: int = 0) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": output,
    }


def start(input_tokens: int = 0) -> Event:
    message: dict[str, Any] = {
        "id": MID,
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage(input_tokens, 0),
    }
    return ("message_start", {"type": "message_start", "message": message})


def opens(index: int, block: dict[str, Any]) -> Event:
    return (
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )


def open_text(index: int) -> Event:
    return opens(index, {"type": "text", "text": ""})


def open_thinking(index: int) -> Event:
    return opens(index, {"type": "thinking", "thinking": "", "signature": ""})


def open_tool(index: int, call_id: str, name: str) -> Event:
    return opens(index, {"type": "tool_use", "id": call_id, "name": name, "input": {}})


def delta(index: int, body: dict[str, Any]) -> Event:
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": body})


def text(index: int, value: str) -> Event:
    return delta(index, {"type": "text_delta", "text": value})


def thinking(index: int, value: str) -> Event:
    return delta(index, {"type": "thinking_delta", "thinking": value})


def signature(index: int) -> Event:
    return delta(index, {"type": "signature_delta", "signature": SIGNATURE})


def args(index: int, value: str) -> Event:
    return delta(index, {"type": "input_json_delta", "partial_json": value})


def close(index: int) -> Event:
    return ("content_block_stop", {"type": "content_block_stop", "index": index})


def end(stop_reason: str, final_usage: dict[str, int]) -> list[Event]:
    return [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": final_usage,
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


EXPECTED: dict[str, list[Event]] = {
    "text_only": [
        start(),
        open_text(0),
        text(0, "Hello"),
        text(0, " there"),
        text(0, "."),
        close(0),
        *end("end_turn", usage(412, 3)),
    ],
    "text_and_tool": [
        start(),
        open_text(0),
        text(0, "Let me run"),
        text(0, " that."),
        close(0),
        open_tool(1, "toolu_0a1b2c3d_1", "Bash"),
        args(1, '{"command":"echo hi"}'),
        close(1),
        *end("tool_use", usage(1200, 21)),
    ],
    "parallel_tools": [
        start(),
        open_tool(0, "toolu_0a1b2c3d_0", "Read"),
        args(0, '{"file_path":"/tmp/a.txt"}'),
        close(0),
        open_tool(1, "toolu_0a1b2c3d_1", "Read"),
        args(1, '{"file_path":"/tmp/b.txt"}'),
        close(1),
        *end("tool_use", usage(2048, 40)),
    ],
    "reasoning_then_text": [
        start(),
        open_thinking(0),
        thinking(0, "The user says hi."),
        thinking(0, " Reply briefly."),
        signature(0),
        close(0),
        open_text(1),
        text(1, "Hi!"),
        text(1, " How can I help?"),
        close(1),
        *end("end_turn", usage(300, 17)),
    ],
    "think_tags_split": [
        start(),
        open_thinking(0),
        thinking(0, "The user"),
        thinking(0, " greets."),
        signature(0),
        close(0),
        open_text(1),
        text(1, "Hi"),
        text(1, "!"),
        close(1),
        *end("end_turn", usage(95, 12)),
    ],
    "cached_usage": [
        start(),
        open_text(0),
        text(0, "Done."),
        close(0),
        *end("end_turn", usage(128, 4, cached=19330)),
    ],
    "args_many_chunks": [
        start(),
        open_tool(0, "toolu_0a1b2c3d_0", "Bash"),
        args(0, orjson.dumps(orjson.loads("".join(chunks._PIECES))).decode()),
        close(0),
        *end("tool_use", usage(900, 30)),
    ],
    "length": [
        start(),
        open_text(0),
        text(0, "Once upon"),
        text(0, " a time"),
        close(0),
        *end("max_tokens", usage(50, 4)),
    ],
    "ollama_tool_then_stop": [
        start(),
        open_tool(0, "toolu_0a1b2c3d_0", "Bash"),
        args(0, '{"command":"pwd"}'),
        close(0),
        *end("tool_use", usage(700, 15)),
    ],
    "ollama_reasoning": [
        start(),
        open_thinking(0),
        thinking(0, "Short answer"),
        thinking(0, " is fine."),
        signature(0),
        close(0),
        open_text(1),
        text(1, "Yes."),
        close(1),
        *end("end_turn", usage(80, 9)),
    ],
}


def test_every_recorded_stream_has_expected_events() -> None:
    assert EXPECTED.keys() == chunks.RECORDED.keys()


@pytest.mark.parametrize("name", list(chunks.RECORDED))
def test_recorded_stream(name: str) -> None:
    events, translator = run(chunks.RECORDED[name])
    assert events == EXPECTED[name]
    assert_valid_stream(events)
    assert accumulate(events) == translator.message()
    assert translator.warnings == []


def test_accumulated_message() -> None:
    _, translator = run(chunks.TEXT_AND_TOOL)
    assert translator.message() == {
        "id": MID,
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [
            {"type": "text", "text": "Let me run that."},
            {
                "type": "tool_use",
                "id": "toolu_0a1b2c3d_1",
                "name": "Bash",
                "input": {"command": "echo hi"},
            },
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": usage(1200, 21),
    }
    _, thinker = run(chunks.THINK_TAGS_SPLIT)
    assert thinker.message()["content"] == [
        {"type": "thinking", "thinking": "The user greets.", "signature": SIGNATURE},
        {"type": "text", "text": "Hi!"},
    ]


def test_stream_and_non_stream_agree() -> None:
    _, translator = run(chunks.TEXT_AND_TOOL)
    completion = {
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Let me run that.",
                    "tool_calls": [
                        {
                            "id": "Jm7rT2qXo0aYV3cN8bK1dF5u",
                            "type": "function",
                            "function": {"name": "Bash", "arguments": '{"command": "echo hi"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 21},
    }
    assert (
        openai_to_anthropic(completion, client_model=MODEL, message_id=MID) == translator.message()
    )


def test_start_is_sent_once() -> None:
    translator = StreamTranslator(message_id=MID, client_model=MODEL, input_tokens=19458)
    assert translator.start() == [start(19458)]
    assert translator.start() == []
    assert translator.feed(llama_cpp({"content": "Hi"})) == [open_text(0), text(0, "Hi")]


def test_first_feed_sends_message_start() -> None:
    translator = StreamTranslator(message_id=MID, client_model=MODEL, input_tokens=7)
    assert translator.feed(llama_cpp({"role": "assistant", "content": None})) == [start(7)]


@pytest.mark.parametrize(
    "chunk",
    [
        llama_cpp({}),
        llama_cpp({"role": "assistant"}),
        llama_cpp({"role": "assistant", "content": ""}),
        llama_cpp({"content": None, "tool_calls": []}),
        chunks.ollama({"content": ""}),
        {"id": "x", "object": "chat.completion.chunk", "choices": []},
        chunks.llama_cpp_usage(10, 2),
        {"choices": [{"index": 0}]},
    ],
    ids=[
        "empty",
        "role only",
        "empty content",
        "empty tool_calls",
        "ollama empty",
        "no choices",
        "usage",
        "no delta",
    ],
)
def test_chunks_without_content_produce_no_events(chunk: dict[str, Any]) -> None:
    translator = StreamTranslator(message_id=MID, client_model=MODEL)
    translator.start()
    assert translator.feed(chunk) == []
    assert not translator.has_content


def test_stream_without_finish_reason_is_an_upstream_error() -> None:
    translator = StreamTranslator(message_id=MID, client_model=MODEL)
    translator.feed(llama_cpp({"content": "Hel"}))
    with pytest.raises(UpstreamError, match="stream ended before the model finished"):
        translator.finish()
    with pytest.raises(UpstreamError, match="stream ended before the model finished"):
        StreamTranslator(message_id=MID, client_model=MODEL).finish()


def test_finish_is_sent_once() -> None:
    events, translator = run(chunks.TEXT_ONLY)
    assert translator.finish() == []


def test_usage_and_stop_reason_properties() -> None:
    translator = StreamTranslator(message_id=MID, client_model=MODEL, input_tokens=33)
    assert translator.usage == usage(33, 0)
    assert translator.stop_reason is None
    translator.feed(llama_cpp({"content": "ok"}, "length"))
    assert translator.stop_reason == "max_tokens"
    translator.feed(chunks.llama_cpp_usage(40, 2, cached=8))
    assert translator.usage == usage(32, 2, cached=8)


def test_usage_from_every_chunk_keeps_the_latest() -> None:
    # vLLM's continuous usage stats, and llama.cpp putting usage beside the finish_reason.
    first = {**llama_cpp({"content": "a"}), "usage": {"prompt_tokens": 10, "completion_tokens": 1}}
    last = {**llama_cpp({}, "stop"), "usage": {"prompt_tokens": 10, "completion_tokens": 2}}
    events, _ = run([first, last])
    assert events[-2][1]["usage"] == usage(10, 2)


def test_no_usage_from_the_backend_keeps_the_estimate() -> None:
    events, translator = run([llama_cpp({"content": "a"}, "stop")], input_tokens=500)
    assert events[-2][1]["usage"] == usage(500, 0)
    assert translator.usage == usage(500, 0)


def test_has_content() -> None:
    translator = StreamTranslator(message_id=MID, client_model=MODEL)
    translator.feed(llama_cpp({"role": "assistant", "content": None}))
    assert not translator.has_content
    translator.feed(llama_cpp({"reasoning_content": "hm"}))
    assert translator.has_content


def test_tool_name_after_id_waits_for_the_name() -> None:
    translator = StreamTranslator(message_id=MID, client_model=MODEL)
    translator.start()
    first = {
        "tool_calls": [
            {"index": 0, "id": "c1", "type": "function", "function": {"arguments": '{"a"'}}
        ]
    }
    assert translator.feed(llama_cpp(first)) == []
    assert translator.has_content
    second = {"tool_calls": [{"index": 0, "function": {"name": "Bash", "arguments": ": 1}"}}]}
    assert translator.feed(llama_cpp(second)) == [open_tool(0, "toolu_0a1b2c3d_0", "Bash")]
    # The arguments, whole and read, when the block ends.
    assert translator.feed(llama_cpp({}, "tool_calls")) == []
    assert translator.finish()[:2] == [args(0, '{"a":1}'), close(0)]


def test_tool_call_without_id_gets_one() -> None:
    call = {"tool_calls": [{"index": 0, "function": {"name": "Bash", "arguments": "{}"}}]}
    events, _ = run([llama_cpp({"content": "x"}), llama_cpp(call), llama_cpp({}, "tool_calls")])
    assert events[4] == open_tool(1, "toolu_0a1b2c3d_1", "Bash")


def test_tool_calls_without_index_follow_their_ids() -> None:
    def piece(call_id: str | None, name: str | None, arguments: str) -> dict[str, Any]:
        function: dict[str, Any] = {"arguments": arguments}
        if name:
            function["name"] = name
        call: dict[str, Any] = {"function": function}
        if call_id:
            call["id"] = call_id
        return llama_cpp({"tool_calls": [call]})

    events, translator = run(
        [
            piece("a", "Read", '{"x"'),
            piece(None, None, ": 1}"),
            piece("b", "Bash", "{}"),
            llama_cpp({}, "tool_calls"),
        ]
    )
    assert_valid_stream(events)
    assert [(b["id"], b["input"]) for b in translator.message()["content"]] == [
        ("toolu_0a1b2c3d_0", {"x": 1}),
        ("toolu_0a1b2c3d_1", {}),
    ]


def test_late_delta_for_a_closed_tool_is_kept_out_with_a_warning() -> None:
    def call(index: int, **function: str) -> dict[str, Any]:
        return llama_cpp(
            {"tool_calls": [{"index": index, "id": f"c{index}", "function": function}]}
        )

    events, translator = run(
        [
            call(0, name="Read", arguments='{"file_path": "/a"}'),
            call(1, name="Read", arguments='{"file_path": "/b"}'),
            call(0, arguments=', "limit": 5'),
            llama_cpp({}, "tool_calls"),
        ]
    )
    assert events == [
        start(),
        open_tool(0, "toolu_0a1b2c3d_0", "Read"),
        args(0, '{"file_path":"/a"}'),
        close(0),
        open_tool(1, "toolu_0a1b2c3d_1", "Read"),
        args(1, '{"file_path":"/b"}'),
        close(1),
        *end("tool_use", usage(0, 0)),
    ]
    assert translator.warnings == [
        "tool call 0 (Read) continued after its block was closed; the late part was dropped"
    ]


def test_text_between_tool_deltas_closes_the_tool() -> None:
    call = {
        "tool_calls": [{"index": 0, "id": "c0", "function": {"name": "Bash", "arguments": '{"a":'}}]
    }
    more = {"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]}
    events, translator = run(
        [
            llama_cpp(call),
            llama_cpp({"content": "oops"}),
            llama_cpp(more),
            llama_cpp({}, "tool_calls"),
        ]
    )
    assert events[:7] == [
        start(),
        open_tool(0, "toolu_0a1b2c3d_0", "Bash"),
        args(0, '{"_raw_arguments":"{\\"a\\":"}'),
        close(0),
        open_text(1),
        text(1, "oops"),
        close(1),
    ]
    assert len(translator.warnings) == 2
    assert translator.warnings[0] == "tool call Bash: arguments were not clean JSON (unreadable)"
    assert "continued after its block was closed" in translator.warnings[1]


def test_one_chunk_with_reasoning_content_and_a_tool_call() -> None:
    chunk = llama_cpp(
        {
            "reasoning_content": "Need a tool.",
            "content": "Checking.",
            "tool_calls": [
                {
                    "index": 0,
                    "id": "c0",
                    "type": "function",
                    "function": {"name": "Bash", "arguments": "{}"},
                }
            ],
        },
        "tool_calls",
    )
    events, _ = run([chunk])
    assert events == [
        start(),
        open_thinking(0),
        thinking(0, "Need a tool."),
        signature(0),
        close(0),
        open_text(1),
        text(1, "Checking."),
        close(1),
        open_tool(2, "toolu_0a1b2c3d_2", "Bash"),
        args(2, "{}"),
        close(2),
        *end("tool_use", usage(0, 0)),
    ]


def test_unfinished_think_tag_at_the_end_is_flushed() -> None:
    events, translator = run(
        [llama_cpp({"content": "Answer <"}), llama_cpp({"content": "th"}, "stop")]
    )
    assert_valid_stream(events)
    assert translator.message()["content"] == [{"type": "text", "text": "Answer <th"}]
    lone, _ = run([llama_cpp({"content": "<thi"}, "stop")])
    assert lone[1:4] == [open_text(0), text(0, "<thi"), close(0)]


def test_unnamed_tool_call_is_reported() -> None:
    call = {"tool_calls": [{"index": 0, "id": "c0", "function": {"arguments": "{}"}}]}
    events, translator = run([llama_cpp({"content": "x"}), llama_cpp(call, "tool_calls")])
    assert_valid_stream(events)
    assert translator.warnings == ["tool call 0 never got a name; it was dropped"]


def test_legacy_function_call_delta() -> None:
    events, _ = run(
        [
            llama_cpp({"function_call": {"name": "Bash", "arguments": "{}"}}),
            llama_cpp({}, "function_call"),
        ]
    )
    assert events[1:4] == [open_tool(0, "toolu_0a1b2c3d_0", "Bash"), args(0, "{}"), close(0)]


def test_events_from_message() -> None:
    message = {
        "id": MID,
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [
            {"type": "thinking", "thinking": "Plan.", "signature": SIGNATURE},
            {"type": "text", "text": "Running."},
            {"type": "tool_use", "id": "c0", "name": "Bash", "input": {"command": "ls"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": usage(12, 3, cached=4),
    }
    events = events_from_message(message)
    assert events == [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {**start()[1]["message"], "usage": usage(12, 0, cached=4)},
            },
        ),
        open_thinking(0),
        thinking(0, "Plan."),
        signature(0),
        close(0),
        open_text(1),
        text(1, "Running."),
        close(1),
        open_tool(2, "c0", "Bash"),
        args(2, '{"command":"ls"}'),
        close(2),
        *end("tool_use", usage(12, 3, cached=4)),
    ]
    assert_valid_stream(events)
    assert accumulate(events) == message


def test_events_from_a_text_message_without_usage() -> None:
    message = {
        "id": MID,
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": "No."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
    }
    events = events_from_message(message)
    assert_valid_stream(events)
    assert events[-2][1]["usage"] == usage(0, 0)


def test_a_chunk_costs_a_few_microseconds() -> None:
    stream = chunks.ARGS_MANY_CHUNKS + chunks.TEXT_ONLY[1:4] * 30
    best = min(_timed(stream) for _ in range(20)) / len(stream)
    assert best < 20e-6, f"{best * 1e6:.1f} µs per chunk"


def _timed(stream: list[dict[str, Any]]) -> float:
    translator = StreamTranslator(message_id=MID, client_model=MODEL)
    begin = time.perf_counter()
    for chunk in stream:
        translator.feed(chunk)
    return time.perf_counter() - begin


# Calls written as text (the sniffer itself is tested in textcalls/test_sniffer.py).
HERMES_CALL = '<tool_call>\n{"name": "Bash", "arguments": {"command": "ls -la"}}\n</tool_call>'


def sniffed(stream: list[dict[str, Any]], tools: Any = ("Bash", "Read")) -> StreamTranslator:
    translator = StreamTranslator(message_id=MID, client_model=MODEL, tool_names=tools)
    events: list[Event] = []
    for chunk in stream:
        events += translator.feed(chunk)
    events += translator.finish()
    assert_valid_stream(events)
    assert accumulate(events) == translator.message()
    return translator


def pieces_of(text_value: str, size: int = 3) -> list[str]:
    return [text_value[i : i + size] for i in range(0, len(text_value), size)]


def test_a_call_written_as_text_becomes_a_tool_use_block() -> None:
    stream = [chunks.ollama({"content": piece}) for piece in pieces_of(f"Listing.\n{HERMES_CALL}")]
    translator = sniffed([*stream, chunks.ollama({}, "stop"), chunks.ollama_usage(90, 30)])
    message = translator.message()
    assert message["content"] == [
        {"type": "text", "text": "Listing.\n"},
        {
            "type": "tool_use",
            "id": "toolu_0a1b2c3d_1",
            "name": "Bash",
            "input": {"command": "ls -la"},
        },
    ]
    assert message["stop_reason"] == "tool_use"
    assert translator.repairs == ["tool call written as text repaired (<tool_call> format)"]
    assert translator.warnings == []


def test_the_input_of_a_text_call_is_one_delta() -> None:
    translator = StreamTranslator(message_id=MID, client_model=MODEL, tool_names=["Bash"])
    events = translator.feed(llama_cpp({"content": HERMES_CALL}, "stop")) + translator.finish()
    assert events[1:5] == [
        open_tool(0, "toolu_0a1b2c3d_0", "Bash"),
        args(0, '{"command":"ls -la"}'),
        close(0),
        end("tool_use", usage(0, 0))[0],
    ]


def test_without_tool_names_text_is_left_alone() -> None:
    events, translator = run([llama_cpp({"content": HERMES_CALL}, "stop")])
    assert translator.message()["content"] == [{"type": "text", "text": HERMES_CALL}]
    assert translator.stop_reason == "end_turn"
    assert translator.repairs == []


def test_reasoning_is_never_sniffed() -> None:
    raw = '{"name": "Bash", "arguments": {"command": "ls"}}'
    translator = sniffed(
        [
            chunks.lm_studio({"reasoning_content": raw}),
            chunks.lm_studio({"content": f"<think>{raw}</think>Nothing to run."}),
            chunks.lm_studio({}, "stop"),
        ]
    )
    assert [block["type"] for block in translator.message()["content"]] == [
        "thinking",
        "text",
    ]
    assert translator.message()["content"][0]["thinking"] == raw + raw
    assert translator.repairs == []


def test_a_call_after_think_tags_and_a_cut_off_call() -> None:
    translator = sniffed(
        [
            llama_cpp({"content": "<think>The user wants files.</think>\n"}),
            llama_cpp({"content": '{"name": "Bash", "arguments": {"command": "ls"'}),
            llama_cpp({}, "length"),
        ]
    )
    content = translator.message()["content"]
    assert [block["type"] for block in content] == ["thinking", "tool_use"]
    assert content[1]["input"] == {"command": "ls"}
    # Cut off by max_tokens: Anthropic reports max_tokens then too, not tool_use.
    assert translator.stop_reason == "max_tokens"
    assert translator.repairs == [
        "tool call written as text repaired (bare JSON format):"
        " closing brackets added at end of stream"
    ]


def test_an_unreadable_text_call_is_text_and_a_warning() -> None:
    broken = '[TOOL_CALLS]Bash[ARGS]{"command": ls}'
    translator = sniffed([llama_cpp({"content": broken}, "stop")])
    assert translator.message()["content"] == [{"type": "text", "text": broken}]
    assert translator.stop_reason == "end_turn"
    assert len(translator.warnings) == 1 and "could not be read" in translator.warnings[0]


def test_stream_and_non_stream_agree_on_text_calls() -> None:
    content = (
        f"<think>Plan.</think>Sure.\n{HERMES_CALL}\n[TOOL_CALLS]Read[ARGS]" + '{"file_path": "a"}'
    )
    stream = [llama_cpp({"content": piece}) for piece in pieces_of(content, 5)]
    translator = sniffed([*stream, llama_cpp({}, "stop")])
    resp = {"choices": [{"message": {"content": content}, "finish_reason": "stop"}]}
    message, notes = openai_to_anthropic_with_notes(
        resp, client_model=MODEL, message_id=MID, tool_names=("Bash", "Read")
    )
    assert message == translator.message()
    assert notes == translator.repairs
    assert [block["type"] for block in message["content"]] == [
        "thinking",
        "text",
        "tool_use",
        "tool_use",
    ]


def test_sniffing_plain_text_costs_little_per_chunk() -> None:
    words = ("The quick brown fox jumps over the lazy dog, then writes a line.\n" * 40).split(" ")
    stream = [llama_cpp({"content": word + " "}) for word in words]
    best = min(_per_chunk(stream) for _ in range(30))
    assert best < 5e-6, f"{best * 1e6:.2f} µs per chunk"


def _per_chunk(stream: list[dict[str, Any]]) -> float:
    translator = StreamTranslator(
        message_id=MID, client_model=MODEL, tool_names=("Bash", "Read", "Write", "Edit")
    )
    translator.start()
    begin = time.perf_counter()
    for chunk in stream:
        translator.feed(chunk)
    return (time.perf_counter() - begin) / len(stream)


@pytest.mark.parametrize(
    ("function", "tool_input"),
    [
        ({"name": "Bash", "arguments": "0"}, {"_raw_arguments": "0"}),
        ({"name": "Bash", "arguments": ":"}, {"_raw_arguments": ":"}),
        ({"name": "Bash", "arguments": '{"command": "ls",}'}, {"command": "ls"}),
        ({"name": [None], "arguments": ""}, None),
    ],
    ids=["a-number", "not-json", "trailing-comma", "name-not-a-string"],
)
def test_arguments_reach_the_client_as_one_json_object(
    function: dict[str, Any], tool_input: dict[str, Any] | None
) -> None:
    """Found by the fuzz test: whatever a backend streams as a call's arguments, the client gets
    a JSON object it can parse (repaired, or the raw text kept under `_raw_arguments` so the tool
    fails loudly), and a call whose name is not a string is dropped, not opened nameless."""
    events, translator = run(
        [llama_cpp({"tool_calls": [{"index": 0, "function": function}]}, "stop")]
    )
    assert_valid_stream(events)
    content = translator.message()["content"]
    assert content == ([] if tool_input is None else [{**content[0], "input": tool_input}])
