"""Tool calls written as text, in the formats they are documented in, become calls.

Sources of the samples (transcribed, not invented):
- llama.cpp tests/test-chat.cpp, test_template_output_parsers: Hermes 2 Pro / Qwen 2.5
  `<tool_call>\\n{"name": "special_function", "arguments": {"arg1": 1}}\\n</tool_call>`; Llama 3.x
  `{"name": "special_function", "parameters": {"arg1": 1}}`; Functionary v3.1
  `<function=special_function>{"arg1": 1}</function>`; Mistral Nemo
  `[TOOL_CALLS][{"name": …, "arguments": …, "id": "123456789"}]`; Ministral/Magistral
  `[TOOL_CALLS]special_function[ARGS]{"arg1":1}`; Qwen3-Coder
  `<tool_call>\\n<function=special_function>\\n<parameter=arg1>\\n1\\n</parameter>\\n</function>\\n
  </tool_call>` (also without the opening `<tool_call>`, and with content before it).
- vLLM vllm/entrypoints/openai/tool_parsers/: hermes_tool_parser.py (`<tool_call>(.*?)</tool_call>`
  or unclosed at the end), mistral_tool_parser.py (v11 `[TOOL_CALLS]add{"a": 3.5, "b": 4}`),
  qwen3coder_tool_parser.py (parameter values on lines of their own, typed by the schema),
  llama_tool_parser.py (`<|python_tag|>` prefix, `parameters` for `arguments`).
- ollama/ollama#15529 (qwen2.5-coder answering `{"name": "Write", "arguments": {…}}` as text)
  and Alishahryar1/free-claude-code's HeuristicToolParser (`● <function=…><parameter=…>`), from
  the field survey.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.translate.textcalls import (
    CallPiece,
    Piece,
    TextPiece,
    ToolCallSniffer,
    extract_tool_calls,
)

INTEGER_ARG = {"type": "object", "properties": {"arg1": {"type": "integer"}}}
SCHEMAS: dict[str, Any] = {
    "special_function": INTEGER_ARG,
    "special_function_with_opt": {
        "type": "object",
        "properties": {"arg1": {"type": "integer"}, "arg2": {"type": "integer"}},
    },
    "python": {"type": "object", "properties": {"code": {"type": "string"}}},
    "get_current_weather": {"type": "object", "properties": {"city": {"type": "string"}}},
    "Bash": {"type": "object", "properties": {"command": {"type": "string"}}},
    "Write": {"type": "object", "properties": {"file_path": {"type": "string"}}},
    "add": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}},
}
TOOLS = frozenset(SCHEMAS)
ARG1 = {"arg1": 1}


def call(name: str, args: dict[str, Any], fmt: str, repaired: str | None = None) -> CallPiece:
    return CallPiece(name, args, repaired, fmt)


WEATHER = (
    "<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n"
    "<parameter=state>\nTX\n</parameter>\n<parameter=unit>\nfahrenheit\n</parameter>\n"
    "</function>\n</tool_call>"
)
DALLAS = {"city": "Dallas", "state": "TX", "unit": "fahrenheit"}

FORMATS: dict[str, tuple[str, list[Piece]]] = {
    "hermes": (
        '<tool_call>\n{"name": "special_function", "arguments": {"arg1": 1}}\n</tool_call>',
        [call("special_function", ARG1, "<tool_call>")],
    ),
    "hermes-python": (
        '<tool_call>\n{"name": "python", "arguments": {"code": "print(\'hey\')"}}\n</tool_call>',
        [call("python", {"code": "print('hey')"}, "<tool_call>")],
    ),
    "hermes-arguments-first": (
        '<tool_call>\n{"arguments": {"arg1": 1}, "name": "special_function"}\n</tool_call>',
        [call("special_function", ARG1, "<tool_call>")],
    ),
    "llama3-parameters": (
        '{"name": "special_function", "parameters": {"arg1": 1}}',
        [call("special_function", ARG1, "bare JSON")],
    ),
    "llama3-python-tag": (
        '<|python_tag|>{"name": "special_function", "parameters": {"arg1": 1}}',
        [call("special_function", ARG1, "<|python_tag|>")],
    ),
    "functionary": (
        '<function=special_function>{"arg1": 1}</function>',
        [call("special_function", ARG1, "<function=…>")],
    ),
    "qwen3-coder": (
        "<tool_call>\n<function=special_function>\n<parameter=arg1>\n1\n</parameter>\n"
        "</function>\n</tool_call>",
        [call("special_function", ARG1, "<function=…>")],
    ),
    "qwen3-coder-no-open-tag": (
        "<function=special_function>\n<parameter=arg1>\n1\n</parameter>\n</function>\n</tool_call>",
        [call("special_function", ARG1, "<function=…>")],
    ),
    "qwen3-coder-content-first": (
        "Let me call it.\n<function=special_function>\n<parameter=arg1>\n1\n</parameter>\n"
        "</function>\n</tool_call>",
        [TextPiece("Let me call it.\n"), call("special_function", ARG1, "<function=…>")],
    ),
    "qwen3-coder-parallel": (
        f"{WEATHER}\n{WEATHER}",
        [call("get_current_weather", DALLAS, "<function=…>")] * 2,
    ),
    "mistral-nemo": (
        '[TOOL_CALLS][{"name": "special_function", "arguments": {"arg1": 1}, "id": "123456789"}]',
        [call("special_function", ARG1, "[TOOL_CALLS]")],
    ),
    "mistral-v11": (
        '[TOOL_CALLS]add{"a": 3.5, "b": 4}',
        [call("add", {"a": 3.5, "b": 4}, "[TOOL_CALLS]")],
    ),
    "magistral-args": (
        '[TOOL_CALLS]special_function[ARGS]{"arg1":1}',
        [call("special_function", ARG1, "[TOOL_CALLS]")],
    ),
    "ministral-parallel": (
        '[TOOL_CALLS]special_function[ARGS]{"arg1": 1}'
        '[TOOL_CALLS]special_function_with_opt[ARGS]{"arg1": 1, "arg2": 2}',
        [
            call("special_function", ARG1, "[TOOL_CALLS]"),
            call("special_function_with_opt", {"arg1": 1, "arg2": 2}, "[TOOL_CALLS]"),
        ],
    ),
    "mistral-call-id": (
        '[TOOL_CALLS]special_function[CALL_ID]a1B2c3D4e[ARGS]{"arg1": 1}',
        [call("special_function", ARG1, "[TOOL_CALLS]")],
    ),
    "ollama-15529-raw-json": (
        '{"name": "Write", "arguments": {"file_path": "/src/index.html", "content": "<html>"}}',
        [call("Write", {"file_path": "/src/index.html", "content": "<html>"}, "bare JSON")],
    ),
    "input-key": (
        '{"name": "Bash", "input": {"command": "ls"}}',
        [call("Bash", {"command": "ls"}, "bare JSON")],
    ),
    "fenced-json": (
        '```json\n{"name": "Bash", "arguments": {"command": "ls"}}\n```',
        [call("Bash", {"command": "ls"}, "bare JSON in a ``` fence")],
    ),
    "fenced-tool-call": (
        '```\n<tool_call>\n{"name": "Bash", "arguments": {"command": "ls"}}\n</tool_call>\n```',
        [call("Bash", {"command": "ls"}, "<tool_call> in a ``` fence")],
    ),
    "free-claude-code-bullet": (
        "● <function=Bash><parameter=command>ls -la</parameter></function>",
        [call("Bash", {"command": "ls -la"}, "<function=…>")],
    ),
    "openai-shaped": (
        '{"type": "function", "function": '
        '{"name": "Bash", "arguments": "{\\"command\\": \\"ls\\"}"}}',
        [call("Bash", {"command": "ls"}, "bare JSON", "arguments given as a JSON string")],
    ),
    "text-around": (
        'Let me look.\n\n<tool_call>\n{"name": "Bash", "arguments": {"command": "ls"}}\n'
        "</tool_call>\n\nDone.",
        [
            TextPiece("Let me look.\n\n"),
            call("Bash", {"command": "ls"}, "<tool_call>"),
            TextPiece("Done."),
        ],
    ),
    "indented": (
        '  {"name": "Bash", "arguments": {"command": "ls"}}',
        [call("Bash", {"command": "ls"}, "bare JSON")],
    ),
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_documented_formats(name: str) -> None:
    text, expected = FORMATS[name]
    assert extract_tool_calls(text, SCHEMAS) == (expected, [])


@pytest.mark.parametrize("name", list(FORMATS))
def test_documented_formats_one_character_at_a_time(name: str) -> None:
    text, expected = FORMATS[name]
    assert feed_all(list(text), SCHEMAS) == (expected, [])


REPAIRS = {
    "trailing-comma": (
        '{"name": "Bash", "arguments": {"command": "ls",}}',
        {"command": "ls"},
        "trailing commas removed",
    ),
    "missing-brace-at-end": (
        '<tool_call>\n{"name": "Bash", "arguments": {"command": "ls"}',
        {"command": "ls"},
        "closing brackets added at end of stream; missing </tool_call>",
    ),
    "raw-newline-and-tab": (
        '{"name": "Write", "arguments": '
        '{"file_path": "a.py", "content": "def f():\n\treturn 1\n"}}',
        {"file_path": "a.py", "content": "def f():\n\treturn 1\n"},
        "control characters escaped",
    ),
    "one-call-in-a-list": (
        '[{"name": "Bash", "arguments": {"command": "ls"}}]',
        {"command": "ls"},
        "a single call wrapped in a list",
    ),
    "function-closed-by-tool-call": (
        "<tool_call>\n<function=Bash>\n<parameter=command>\nls\n</parameter>\n</tool_call>",
        {"command": "ls"},
        "missing </function>",
    ),
    "unclosed-function-at-end": (
        "<function=Bash>\n<parameter=command>\nls\n</parameter>",
        {"command": "ls"},
        "missing </function> at end of stream",
    ),
}


@pytest.mark.parametrize("name", list(REPAIRS))
def test_allowed_repairs(name: str) -> None:
    text, expected, note = REPAIRS[name]
    pieces, warnings = extract_tool_calls(text, SCHEMAS)
    assert warnings == []
    assert len(pieces) == 1 and isinstance(pieces[0], CallPiece)
    assert (pieces[0].input, pieces[0].repaired) == (expected, note)


NOT_CALLS = {
    "a name no tool has": '{"name": "John", "age": 30}',
    "an undeclared tool": '<tool_call>\n{"name": "Unknown", "arguments": {}}\n</tool_call>',
    "a key no call has": '{"name": "Bash", "description": "runs commands"}',
    "code": "int main()\n{\n    return 0;\n}\n",
    "another language's fence": "```python\nprint(1)\n```",
    "a fence of prose": "```\nls -la\n```",
    "a markdown link": "[link](https://example.com) and more",
    "not at a line start": 'Use {"name": "Bash", "arguments": {"command": "ls"}} like this',
    "html": "<div>\n</div>",
    "mistral, undeclared": "[TOOL_CALLS]Unknown[ARGS]{}",
    "qwen3-coder, undeclared": "<function=Unknown>\n<parameter=a>\nb\n</parameter>\n</function>",
    "several calls in a bare list": '[{"name": "Bash", "arguments": {}}, {"name": "Bash"}]',
    "a transcript bullet": "● Done, all tests pass.",
    "a scalar list": "[1, 2, 3]",
}


@pytest.mark.parametrize("name", list(NOT_CALLS))
def test_what_is_not_a_call_stays_text_exactly(name: str) -> None:
    text = NOT_CALLS[name]
    assert extract_tool_calls(text, SCHEMAS) == ([TextPiece(text)], [])
    assert feed_all(list(text), SCHEMAS) == ([TextPiece(text)], [])


UNREADABLE = {
    "cut inside a string": '{"name": "Bash", "arguments": {"command": "ls',
    "not JSON": '<tool_call>\n{"name": "Bash", "arguments": {"command": "ls" "-la"}}\n</tool_call>',
    "mistral, not JSON": '[TOOL_CALLS]Bash[ARGS]{"command": ls}',
    "qwen3-coder, stray text": (
        "<function=Bash>\n<parameter=command>\nls\n</parameter>\nplease\n</function>"
    ),
}


@pytest.mark.parametrize("name", list(UNREADABLE))
def test_an_unreadable_call_stays_text_with_a_warning(name: str) -> None:
    text = UNREADABLE[name]
    pieces, warnings = extract_tool_calls(text, SCHEMAS)
    assert pieces == [TextPiece(text)]
    assert len(warnings) == 1 and "could not be read" in warnings[0], warnings


def test_parameters_stay_strings_without_a_schema() -> None:
    text = "<function=special_function>\n<parameter=arg1>\n1\n</parameter>\n</function>"
    pieces, _ = extract_tool_calls(text, {"special_function"})
    assert pieces == [call("special_function", {"arg1": "1"}, "<function=…>")]


@pytest.mark.parametrize(
    ("schema", "value", "expected"),
    [
        ({"type": "integer"}, "42", 42),
        ({"type": "integer"}, "forty-two", "forty-two"),
        ({"type": "integer"}, "4.5", "4.5"),
        ({"type": "number"}, "4.5", 4.5),
        ({"type": "number"}, "4", 4),
        ({"type": "boolean"}, "true", True),
        ({"type": "array"}, '["a", "b"]', ["a", "b"]),
        ({"type": "object"}, '{"a": 1}', {"a": 1}),
        ({"type": ["integer", "null"]}, "null", None),
        ({"type": "string"}, "42", "42"),
        ({}, "42", "42"),
    ],
)
def test_parameters_are_typed_by_the_schema(schema: Any, value: str, expected: Any) -> None:
    schemas = {"f": {"type": "object", "properties": {"x": schema}}}
    pieces, _ = extract_tool_calls(
        f"<function=f>\n<parameter=x>\n{value}\n</parameter>\n</function>", schemas
    )
    assert pieces == [call("f", {"x": expected}, "<function=…>")]


def test_the_tools_themselves_can_give_the_schemas() -> None:
    tools = {"special_function": {"name": "special_function", "input_schema": INTEGER_ARG}}
    text = "<function=special_function>\n<parameter=arg1>\n7\n</parameter>\n</function>"
    assert extract_tool_calls(text, tools)[0] == [
        call("special_function", {"arg1": 7}, "<function=…>")
    ]


def test_without_tools_nothing_is_held() -> None:
    sniffer = ToolCallSniffer(())
    text = '{"name": "Bash", "arguments": {}}'
    assert sniffer.feed(text) == [TextPiece(text)]
    assert sniffer.finish() == []


def test_plain_text_goes_straight_through() -> None:
    sniffer = ToolCallSniffer(TOOLS)
    for piece in ["Hello", ", world", "!\n", "Next line", " and\nmore ", "text\n\n", "End."]:
        assert sniffer.feed(piece) == [TextPiece(piece)]
    assert sniffer.finish() == []


@pytest.mark.parametrize(
    ("pieces", "released_at"),
    [
        # Held until the name is read, released the moment it is not a tool's.
        (['{"na', 'me": "Jo', 'hn"', ', "age": 30}'], 2),
        # A key no call has.
        (["{", '"title', '": "x"}'], 2),
        (["<", "di", "v>"], 1),
        (["[TOOL", "_CALLS]Unk", "nown[ARGS]{}"], 1),
        (["``", "`pyth", "on\nx = 1\nprint(x)"], 2),
        (["<function=Unk", "nown>"], 0),
    ],
)
def test_held_text_is_released_as_soon_as_it_cannot_be_a_call(
    pieces: list[str], released_at: int
) -> None:
    sniffer = ToolCallSniffer(TOOLS)
    out: list[Piece] = []
    for count, piece in enumerate(pieces):
        out += sniffer.feed(piece)
        released = "".join(p.text for p in out if isinstance(p, TextPiece))
        sent = "".join(pieces[: count + 1])
        if count < released_at:
            assert released != sent
        else:
            assert released == sent, (count, released)


def test_a_call_is_held_until_it_ends() -> None:
    sniffer = ToolCallSniffer(TOOLS)
    assert sniffer.feed("Sure.\n") == [TextPiece("Sure.\n")]
    assert sniffer.feed('<tool_call>\n{"name": "Bash", "argu') == []
    assert sniffer.feed('ments": {"command": "ls"}}\n</tool') == []
    assert sniffer.feed("_call>\nDone") == [
        call("Bash", {"command": "ls"}, "<tool_call>"),
        TextPiece("Done"),
    ]
    assert sniffer.finish() == []


@pytest.mark.alone
def test_a_long_call_is_read_in_linear_time() -> None:
    def read(lines: int) -> float:
        """Seconds to read a call of `lines` lines fed 4 characters at a time, best of 3."""
        arguments = {"file_path": "a.txt", "content": "line of a file\n" * lines}
        text = json.dumps({"name": "Write", "arguments": arguments})
        pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
        best = math.inf
        for _ in range(3):
            started = time.perf_counter()
            out, _ = feed_all(pieces, TOOLS)
            best = min(best, time.perf_counter() - started)
        assert out == [call("Write", arguments, "bare JSON")]
        return best

    short, long = read(10_000), read(80_000)
    # Eight times the text: about eight times the time if linear, 64 times if quadratic.
    assert long < 24 * short, f"{short:.3f} s, then {long:.3f} s for 8 times the text"


SEGMENTS = (
    [text for text, _ in FORMATS.values()]
    + list(NOT_CALLS.values())
    + [
        "Plain prose.",
        "  indented prose",
        "",
        "{",
        "<tool_call>",
        '{"name": "Bash", "arguments": {"command": "echo {}"}}',
    ]
)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_split_gives_the_same_pieces(data: st.DataObject) -> None:
    parts = data.draw(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=5))
    text = "\n".join(parts)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=12)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    whole = extract_tool_calls(text, SCHEMAS)
    assert feed_all(pieces, SCHEMAS) == whole
    # Nothing is lost: the text that is not a call is the text that came in.
    if not any(isinstance(p, CallPiece) for p in whole[0]):
        assert "".join(p.text for p in whole[0] if isinstance(p, TextPiece)) == text


ATOMS = [
    *'{}[]":,\n \t\\',
    "name",
    "Bash",
    "1",
    "<tool_call>",
    "</tool_call>",
    "<function=",
    "Bash>",
    "</function>",
    "<parameter=",
    "command>",
    "</parameter>",
    "[TOOL_CALLS]",
    "[ARGS]",
    "```",
    "json",
    "●",
    '"name"',
    '"Bash"',
    '"arguments"',
]


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.sampled_from(ATOMS), max_size=40), data=st.data())
def test_any_text_any_split(parts: list[str], data: st.DataObject) -> None:
    text = "".join(parts)
    whole = extract_tool_calls(text, SCHEMAS)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=10)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert feed_all(pieces, SCHEMAS) == whole
    if not any(isinstance(p, CallPiece) for p in whole[0]):
        assert "".join(p.text for p in whole[0] if isinstance(p, TextPiece)) == text


def feed_all(pieces: list[str], tools: Any) -> tuple[list[Piece], list[str]]:
    sniffer = ToolCallSniffer(tools)
    out: list[Piece] = []
    for text in pieces:
        out += sniffer.feed(text)
    out += sniffer.finish()
    merged: list[Piece] = []
    for piece in out:
        if merged and isinstance(piece, TextPiece) and isinstance(merged[-1], TextPiece):
            merged[-1] = TextPiece(merged[-1].text + piece.text)
        else:
            merged.append(piece)
    return merged, sniffer.warnings
