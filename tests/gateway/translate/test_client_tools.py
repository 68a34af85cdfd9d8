"""Nothing dropped in silence: client tools as functions, the older output_format, omitted
thinking, and a clear 400 for the MCP connector."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.errors import InvalidRequest
from gateway.schemas.anthropic import MessagesRequest, parse_messages_request
from gateway.translate.client_tools import CLIENT_TOOL_TYPES, client_tool_function
from gateway.translate.request import (
    BackendTraits,
    anthropic_to_openai,
    backend_tool_names,
    shows_thinking,
)
from gateway.translate.response import openai_to_anthropic
from gateway.translate.stream import StreamTranslator
from gateway.translate.thinking import SIGNATURE

from .grammar import accumulate, assert_valid_stream

CLIENT_TOOLS: list[dict[str, Any]] = [
    {"type": "bash_20250124", "name": "bash"},
    {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool", "max_characters": 9},
    {"type": "text_editor_20250124", "name": "str_replace_editor"},
    {"type": "memory_20250818", "name": "memory"},
]
CUSTOM = {"name": "lookup", "input_schema": {"type": "object", "properties": {}}}
WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}


def request(**fields: Any) -> MessagesRequest:
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
        **fields,
    }
    return parse_messages_request(orjson.dumps(body))


def test_client_tools_become_functions_with_their_documented_names_and_schemas() -> None:
    translation = anthropic_to_openai(
        request(tools=[*CLIENT_TOOLS, CUSTOM, WEB_SEARCH]), "local", stream=False
    )
    functions = {tool["function"]["name"]: tool["function"] for tool in translation.body["tools"]}
    assert list(functions) == [
        "bash",
        "str_replace_based_edit_tool",
        "str_replace_editor",
        "memory",
        "lookup",
    ]
    bash = functions["bash"]["parameters"]
    assert bash["properties"]["command"]["type"] == "string"
    assert bash["properties"]["restart"]["type"] == "boolean"
    editor = functions["str_replace_based_edit_tool"]["parameters"]
    assert editor["properties"]["command"]["enum"] == ["view", "create", "str_replace", "insert"]
    assert editor["required"] == ["command"]
    assert {"path", "file_text", "old_str", "new_str", "insert_line", "view_range"} <= set(
        editor["properties"]
    )
    old_editor = functions["str_replace_editor"]["parameters"]
    assert old_editor["properties"]["command"]["enum"][-1] == "undo_edit"
    memory = functions["memory"]["parameters"]
    assert memory["properties"]["command"]["enum"] == [
        "view",
        "create",
        "str_replace",
        "insert",
        "delete",
        "rename",
    ]
    assert {"insert_text", "old_path", "new_path"} <= set(memory["properties"])
    assert all(functions[tool["name"]]["description"] for tool in CLIENT_TOOLS)
    assert translation.changes == (
        "client tool bash (bash_20250124) sent as a function",
        "client tool str_replace_based_edit_tool (text_editor_20250728) sent as a function",
        "client tool str_replace_editor (text_editor_20250124) sent as a function",
        "client tool memory (memory_20250818) sent as a function",
        "server tool web_search dropped",
    )
    assert translation.warnings == (
        "server tool web_search (web_search_20250305) dropped: the backend cannot run it",
    )


def test_every_documented_client_tool_version_is_known() -> None:
    assert CLIENT_TOOL_TYPES == {
        "bash_20250124",
        "bash_20241022",
        "text_editor_20250728",
        "text_editor_20250429",
        "text_editor_20250124",
        "text_editor_20241022",
        "memory_20250818",
    }
    assert client_tool_function(WEB_SEARCH) is None
    assert client_tool_function({"type": "bash_20250124"}) is None  # no name, no function


def test_a_tool_choice_can_name_a_client_tool_and_a_provider_gets_clean_schemas() -> None:
    translation = anthropic_to_openai(
        request(tools=CLIENT_TOOLS[:1], tool_choice={"type": "tool", "name": "bash"}),
        "local",
        stream=False,
        traits=BackendTraits(clean_json_schema=True),
    )
    assert translation.body["tool_choice"] == {"type": "function", "function": {"name": "bash"}}
    editor = anthropic_to_openai(
        request(tools=CLIENT_TOOLS[1:2]),
        "gemini",
        stream=False,
        traits=BackendTraits(clean_json_schema=True),
    ).body["tools"][0]["function"]["parameters"]
    assert editor["properties"]["view_range"]["minItems"] == 2  # kept: Gemini takes minItems


def test_backend_tool_names_are_the_functions_the_backend_gets() -> None:
    assert backend_tool_names(request(tools=[*CLIENT_TOOLS, CUSTOM, WEB_SEARCH])) == (
        "bash",
        "str_replace_based_edit_tool",
        "str_replace_editor",
        "memory",
        "lookup",
    )


def test_a_call_to_a_client_tool_comes_back_as_tool_use_with_its_name() -> None:
    arguments = {"command": "str_replace", "path": "/r/a.py", "old_str": "a", "new_str": "b"}
    call = {
        "id": "call_1",
        "type": "function",
        "function": {
            "name": "str_replace_based_edit_tool",
            "arguments": orjson.dumps(arguments).decode(),
        },
    }
    resp = {
        "choices": [
            {"message": {"content": None, "tool_calls": [call]}, "finish_reason": "tool_calls"}
        ]
    }
    message = openai_to_anthropic(
        resp,
        client_model="claude-sonnet-4-6",
        message_id="msg_1",
        tool_names=backend_tool_names(request(tools=CLIENT_TOOLS)),
    )
    assert message["content"] == [
        {
            "type": "tool_use",
            "id": "call_1",
            "name": "str_replace_based_edit_tool",
            "input": arguments,
        }
    ]
    assert message["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    "fields",
    [
        {"mcp_servers": [{"type": "url", "url": "https://mcp.test/sse", "name": "docs"}]},
        {"tools": [{"type": "mcp_toolset", "mcp_server_name": "docs"}]},
    ],
)
def test_the_mcp_connector_is_a_clear_400(fields: dict[str, Any]) -> None:
    req = request(**fields)  # it parses: a native backend gets it as sent
    with pytest.raises(InvalidRequest, match="MCP connector .* a local backend cannot") as caught:
        anthropic_to_openai(req, "local", stream=False)
    assert caught.value.status == 400


def test_a_tool_without_a_name_is_still_refused_by_the_schema() -> None:
    with pytest.raises(InvalidRequest, match=r"^tools\.1\.name: Field required$"):
        request(tools=[CUSTOM, {"type": "custom", "input_schema": {"type": "object"}}])
    assert anthropic_to_openai(request(mcp_servers=[]), "local", stream=False).body["messages"]


SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}}


@pytest.mark.parametrize(
    ("fields", "schema", "changes"),
    [
        (
            {"output_format": {"type": "json_schema", "schema": SCHEMA}},
            SCHEMA,
            ("output_format sent as response_format",),
        ),
        ({"output_config": {"format": {"type": "json_schema", "schema": SCHEMA}}}, SCHEMA, ()),
        (
            {
                "output_format": {"type": "json_schema", "schema": {"type": "object"}},
                "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}},
            },
            SCHEMA,
            (),
        ),
    ],
)
def test_both_spellings_of_structured_output_become_response_format(
    fields: dict[str, Any], schema: dict[str, Any], changes: tuple[str, ...]
) -> None:
    translation = anthropic_to_openai(request(**fields), "local", stream=False)
    assert translation.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": schema, "strict": True},
    }
    assert translation.changes == changes


def test_the_new_top_level_fields_are_accepted_whatever_their_shape() -> None:
    req = request(
        safeguards=[{"type": "dangerous_tool_use", "classifier_context": {"v": 1}}],
        thread={"type": "create"},
        context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        thinking={"type": "adaptive", "display": "omitted"},
        output_config={"effort": "medium", "task_budget": {"type": "tokens", "total": 5}},
    )
    assert req["safeguards"] == [{"type": "dangerous_tool_use", "classifier_context": {"v": 1}}]
    assert req["thread"] == {"type": "create"}
    assert req["context_management"] == {
        "edits": [{"type": "clear_thinking_20251015", "keep": "all"}]
    }
    assert request(safeguards="a future shape")["safeguards"] == "a future shape"
    body = anthropic_to_openai(req, "local", stream=False).body
    assert not {"safeguards", "thread", "context_management", "output_config"} & set(body)


@pytest.mark.parametrize(
    ("thinking", "shown"),
    [
        (None, True),
        ({"type": "adaptive"}, True),
        ({"type": "adaptive", "display": "summarized"}, True),
        ({"type": "adaptive", "display": "omitted"}, False),
        ({"type": "enabled", "budget_tokens": 2048, "display": "omitted"}, False),
    ],
)
def test_shows_thinking(thinking: dict[str, Any] | None, shown: bool) -> None:
    fields = {"thinking": thinking} if thinking else {}
    assert shows_thinking(request(**fields)) is shown


def test_omitted_thinking_gives_no_thinking_blocks_non_streamed() -> None:
    resp = {
        "choices": [
            {
                "message": {"content": "<think>plan</think>Hello", "reasoning_content": "more"},
                "finish_reason": "stop",
            }
        ]
    }
    shown = openai_to_anthropic(resp, client_model="m", message_id="msg_1")
    hidden = openai_to_anthropic(resp, client_model="m", message_id="msg_1", show_thinking=False)
    assert [block["type"] for block in shown["content"]] == ["thinking", "text"]
    assert shown["content"][0] == {
        "type": "thinking",
        "thinking": "moreplan",
        "signature": SIGNATURE,
    }
    assert hidden["content"] == [{"type": "text", "text": "Hello"}]


def test_omitted_thinking_gives_no_thinking_blocks_streamed() -> None:
    chunks: list[dict[str, Any]] = [
        {"choices": [{"delta": {"reasoning_content": "let me think"}}]},
        {"choices": [{"delta": {"content": "<think>more</think>"}}]},
        {"choices": [{"delta": {"content": "Answer"}}]},
        {"choices": [{"delta": {}, "finish_reason": "stop"}]},
    ]
    translator = StreamTranslator(message_id="msg_1", client_model="m", show_thinking=False)
    events = []
    for chunk in chunks:
        events += translator.feed(chunk)
    events += translator.finish()
    assert_valid_stream(events)
    message = accumulate(events)
    assert message["content"] == [{"type": "text", "text": "Answer"}]
    assert not any("thinking" in orjson.dumps(data).decode() for _, data in events)
