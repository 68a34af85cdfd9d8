"""System folding, turn merging and block translation: Anthropic messages in, exact OpenAI out."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.schemas.anthropic import parse_messages_request
from gateway.translate.request import BackendTraits, Translation, anthropic_to_openai

from .template import assert_strict_template

BILLING = "x-anthropic-billing-header: cc_version=2.1.197.c40; cc_entrypoint=sdk-cli;"
PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
PNG_URL = "data:image/png;base64,iVBORw0KGgo="


def translate(
    messages: list[dict[str, Any]], *, system: Any = None, vision: bool = True
) -> Translation:
    body: dict[str, Any] = {"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": messages}
    if system is not None:
        body["system"] = system
    req = parse_messages_request(orjson.dumps(body))
    return anthropic_to_openai(req, "local", stream=False, traits=BackendTraits(vision=vision))


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def system_msg(content: Any) -> dict[str, Any]:
    return {"role": "system", "content": content}


def tool_use(call_id: str, name: str = "Bash", **arguments: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


def result(call_id: str, content: Any = None, **extra: Any) -> dict[str, Any]:
    block = {"type": "tool_result", "tool_use_id": call_id, **extra}
    if content is not None:
        block["content"] = content
    return block


def reminder(value: str) -> str:
    return f"<system-reminder>\n{value}\n</system-reminder>"


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


CASES: list[tuple[str, Any, list[dict[str, Any]], list[dict[str, Any]]]] = [
    (
        "system string",
        "Be terse.",
        [user("hi")],
        [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}],
    ),
    (
        "system blocks joined, billing header removed",
        [text(BILLING), text("You are Claude Code."), text("Be terse.")],
        [user("hi")],
        [
            {"role": "system", "content": "You are Claude Code.\n\nBe terse."},
            {"role": "user", "content": "hi"},
        ],
    ),
    (
        "no system message for an empty system",
        [],
        [user("hi")],
        [{"role": "user", "content": "hi"}],
    ),
    (
        "system message before a user turn goes into it",
        None,
        [system_msg("agents: none"), user("hi")],
        [{"role": "user", "content": f"{reminder('agents: none')}\n\nhi"}],
    ),
    (
        "system message before an assistant turn joins the user turn before it",
        None,
        [user("hi"), system_msg("agents"), assistant("hello"), user("bye")],
        [
            {"role": "user", "content": f"hi\n\n{reminder('agents')}"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "bye"},
        ],
    ),
    (
        "a last system message after an assistant turn becomes a user turn",
        None,
        [user("hi"), assistant("hello"), system_msg("[late]")],
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": reminder("[late]")},
        ],
    ),
    (
        "a first system message before an assistant turn becomes a user turn",
        None,
        [system_msg([text("a"), text("b")]), assistant("hello"), user("go")],
        [
            {"role": "user", "content": reminder("a\n\nb")},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "go"},
        ],
    ),
    (
        "consecutive system messages stay in order",
        None,
        [user("hi"), system_msg("one"), system_msg("two"), user("more")],
        [{"role": "user", "content": f"hi\n\n{reminder('one')}\n\n{reminder('two')}\n\nmore"}],
    ),
    (
        "human is user; consecutive user turns merge",
        None,
        [{"role": "human", "content": "a"}, user([text("b"), text("c")])],
        [{"role": "user", "content": "a\n\nb\n\nc"}],
    ),
    (
        "consecutive assistant turns merge",
        None,
        [user("q"), assistant("one"), assistant([text("two")]), user("ok")],
        [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "one\n\ntwo"},
            {"role": "user", "content": "ok"},
        ],
    ),
    (
        "images become image_url parts; text stays a part",
        None,
        [
            user(
                [
                    text("look"),
                    {"type": "image", "source": PNG},
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                ]
            )
        ],
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": PNG_URL}},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                ],
            }
        ],
    ),
    (
        "tool_use becomes tool_calls with compact JSON, content never null",
        None,
        [user("run"), assistant([tool_use("toolu_1", command="echo hi", timeout=5)])],
        [
            {"role": "user", "content": "run"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [call("toolu_1", "Bash", '{"command":"echo hi","timeout":5}')],
            },
        ],
    ),
    (
        "tool results in block order right after the call, then the user's text",
        None,
        [
            user("run both"),
            assistant([text("Running."), tool_use("t1"), tool_use("t2", "Read")]),
            user([text("and then?"), result("t2", "b"), result("t1", [text("a1"), text("a2")])]),
        ],
        [
            {"role": "user", "content": "run both"},
            {
                "role": "assistant",
                "content": "Running.",
                "tool_calls": [call("t1", "Bash", "{}"), call("t2", "Read", "{}")],
            },
            {"role": "tool", "tool_call_id": "t2", "content": "b"},
            {"role": "tool", "tool_call_id": "t1", "content": "a1\na2"},
            {"role": "user", "content": "and then?"},
        ],
    ),
    (
        "is_error prefixes Error:, empty and missing content are empty strings",
        None,
        [
            user("go"),
            assistant([tool_use("t1"), tool_use("t2"), tool_use("t3")]),
            user([result("t1", "boom", is_error=True), result("t2", ""), result("t3")]),
        ],
        [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    call("t1", "Bash", "{}"),
                    call("t2", "Bash", "{}"),
                    call("t3", "Bash", "{}"),
                ],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "Error: boom"},
            {"role": "tool", "tool_call_id": "t2", "content": ""},
            {"role": "tool", "tool_call_id": "t3", "content": ""},
        ],
    ),
    (
        "an image in a tool result follows in a user message, before the user's text",
        None,
        [
            user("shot"),
            assistant([tool_use("t1", "Screenshot")]),
            user([result("t1", [text("taken"), {"type": "image", "source": PNG}]), text("see?")]),
        ],
        [
            {"role": "user", "content": "shot"},
            {"role": "assistant", "content": "", "tool_calls": [call("t1", "Screenshot", "{}")]},
            {"role": "tool", "tool_call_id": "t1", "content": "taken\n[image attached below]"},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": PNG_URL}},
                    {"type": "text", "text": "see?"},
                ],
            },
        ],
    ),
    (
        "thinking history is not sent, not even as text",
        None,
        [
            user("q"),
            assistant([{"type": "thinking", "thinking": "secret", "signature": "s"}, text("a")]),
            user("more"),
        ],
        [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": "more"},
        ],
    ),
    (
        "a tool result that answers no call of the turn before is sent as text",
        None,
        [user("q"), assistant("a"), user([result("gone", "old output")])],
        [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": "[tool result for gone]\nold output"},
        ],
    ),
    (
        "a call without a result gets a placeholder result",
        None,
        [user("q"), assistant([tool_use("t1")]), user("never mind")],
        [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "", "tool_calls": [call("t1", "Bash", "{}")]},
            {
                "role": "tool",
                "tool_call_id": "t1",
                "content": "[no result was recorded for this tool call]",
            },
            {"role": "user", "content": "never mind"},
        ],
    ),
]


@pytest.mark.parametrize(
    ("system", "messages", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_conversation_table(system: Any, messages: list[dict[str, Any]], expected: Any) -> None:
    out = translate(messages, system=system).body["messages"]
    assert out == expected
    if expected[-1]["role"] in ("user", "tool"):
        assert_strict_template(out)


def test_changes_are_recorded_once_per_kind() -> None:
    translation = translate(
        [
            user("a"),
            system_msg("s1"),
            user("b"),
            assistant([{"type": "thinking", "thinking": "t", "signature": "s"}, text("c")]),
            assistant([{"type": "document", "source": {}}, {"type": "document", "source": {}}]),
            user([{"type": "search_result", "content": []}]),
        ],
        system=[text(BILLING), text("sys")],
    )
    assert translation.changes == (
        "billing header removed",
        "1 system message merged into user turns",
        "2 consecutive turns merged",
        "3 blocks replaced (document ×2, search_result ×1)",
        "thinking history dropped (1 block)",
    )
    assert translation.warnings == (
        "document block replaced by a placeholder (×2)",
        "search_result block replaced by a placeholder",
    )


def test_billing_header_in_a_system_string_is_removed() -> None:
    translation = translate([user("hi")], system=f"{BILLING}\nBe terse.")
    assert translation.body["messages"][0] == {"role": "system", "content": "Be terse."}
    assert translation.changes == ("billing header removed",)


OMITTED = [
    "document",
    "redacted_thinking",
    "server_tool_use",
    "web_search_tool_result",
    "search_result",
    "container_upload",
    "a_type_from_the_future",
]


@pytest.mark.parametrize("kind", OMITTED)
def test_blocks_the_backend_cannot_take_become_placeholders(kind: str) -> None:
    block = {"type": kind, "id": "x", "data": "…"}
    translation = translate(
        [
            user([text("see"), block]),
            assistant([text("ok"), block, tool_use("t1")]),
            user([result("t1", [text("r"), block])]),
        ]
    )
    placeholder = f"[{kind} omitted]"
    assert translation.body["messages"] == [
        {"role": "user", "content": f"see\n\n{placeholder}"},
        {
            "role": "assistant",
            "content": f"ok\n\n{placeholder}",
            "tool_calls": [call("t1", "Bash", "{}")],
        },
        {"role": "tool", "tool_call_id": "t1", "content": f"r\n{placeholder}"},
    ]
    assert translation.warnings == (f"{kind} block replaced by a placeholder (×3)",)
    assert translation.changes == (f"3 blocks replaced ({kind} ×3)",)


def test_without_vision_images_become_a_note_and_a_warning() -> None:
    translation = translate(
        [
            user([text("look"), {"type": "image", "source": PNG}]),
            assistant([tool_use("t1")]),
            user([result("t1", [{"type": "image", "source": PNG}])]),
        ],
        vision=False,
    )
    note = "[image omitted: this model has no vision]"
    assert translation.body["messages"] == [
        {"role": "user", "content": f"look\n\n{note}"},
        {"role": "assistant", "content": "", "tool_calls": [call("t1", "Bash", "{}")]},
        {"role": "tool", "tool_call_id": "t1", "content": note},
    ]
    assert translation.warnings == ("2 images omitted: this model has no vision",)
    assert "2 images replaced by a note" in translation.changes


def test_orphan_and_missing_results_are_reported() -> None:
    translation = translate([user("q"), assistant([tool_use("t1")]), user([result("other", "x")])])
    assert "1 unmatched tool result sent as text" in translation.changes
    assert "1 missing tool result filled in" in translation.changes
    assert translation.warnings == (
        "1 tool result did not answer a tool call",
        "1 tool call had no result in the next turn",
    )
    assert_strict_template(translation.body["messages"])


def test_request_messages_are_not_mutated() -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [user("a"), system_msg("s"), user([text("b")]), assistant("c"), user("d")],
    }
    req = parse_messages_request(orjson.dumps(body))
    before = orjson.dumps(req)
    anthropic_to_openai(req, "local", stream=True)
    assert orjson.dumps(req) == before
