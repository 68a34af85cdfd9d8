"""The request body around the conversation: tools, sampling, format, reasoning; real fixtures."""

from __future__ import annotations

import time
from typing import Any, cast

import orjson
import pytest

from gateway.schemas.anthropic import MessagesRequest, parse_messages_request
from gateway.translate.request import (
    BackendTraits,
    Translation,
    anthropic_to_openai,
    is_web_search_request,
)
from tests.paths import visible_tools

from .claude_code import fixture_names, fixture_request
from .template import assert_strict_template

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "command": {"type": "string", "format": "uri"},
        "mode": {"anyOf": [{"const": "fast"}, {"const": "slow"}]},
    },
    "required": ["command"],
    "additionalProperties": False,
}
BASH = {"name": "Bash", "description": "Run a command", "input_schema": SCHEMA}
READ = {"name": "Read", "input_schema": {"type": "object", "properties": {}}}
WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 8}


def request(**fields: Any) -> MessagesRequest:
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 32000,
        "messages": [{"role": "user", "content": "hi"}],
        **fields,
    }
    return parse_messages_request(orjson.dumps(body))


def translate(
    traits: BackendTraits | None = None, stream: bool = True, **fields: Any
) -> Translation:
    return anthropic_to_openai(
        request(**fields), "qwen3-8b", stream=stream, traits=traits or BackendTraits()
    )


def test_minimal_request_body() -> None:
    assert translate(stream=False).body == {
        "model": "qwen3-8b",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 32000,
        "chat_template_kwargs": {"enable_thinking": False},
        "stream": False,
    }


def test_tools_become_functions_with_the_schema_unchanged() -> None:
    body = translate(tools=[BASH, READ]).body
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "Bash", "description": "Run a command", "parameters": SCHEMA},
        },
        {"type": "function", "function": {"name": "Read", "parameters": READ["input_schema"]}},
    ]
    assert "tool_choice" not in body


@pytest.mark.parametrize(
    "fields",
    [{}, {"tools": []}, {"tools": [], "tool_choice": {"type": "any"}}, {"tools": None}],
    ids=["absent", "empty", "empty with tool_choice", "null"],
)
def test_no_tools_means_no_tools_and_no_tool_choice_keys(fields: dict[str, Any]) -> None:
    body = translate(**fields).body
    assert "tools" not in body and "tool_choice" not in body
    assert "parallel_tool_calls" not in body


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "Read"}, {"type": "function", "function": {"name": "Read"}}),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: Any) -> None:
    body = translate(tools=[BASH, READ], tool_choice=choice).body
    assert body["tool_choice"] == expected
    assert "parallel_tool_calls" not in body


def test_disable_parallel_tool_use() -> None:
    choice = {"type": "auto", "disable_parallel_tool_use": True}
    body = translate(tools=[BASH], tool_choice=choice).body
    assert body["tool_choice"] == "auto"
    assert body["parallel_tool_calls"] is False


def test_server_tools_are_dropped_with_a_warning() -> None:
    translation = translate(tools=[WEB_SEARCH, BASH])
    assert [t["function"]["name"] for t in translation.body["tools"]] == ["Bash"]
    assert translation.warnings == (
        "server tool web_search (web_search_20250305) dropped: the backend cannot run it",
    )
    assert "server tool web_search dropped" in translation.changes


def test_tool_choice_never_names_a_dropped_tool() -> None:
    choice = {"type": "tool", "name": "web_search"}
    translation = translate(tools=[WEB_SEARCH, BASH], tool_choice=choice)
    assert "tool_choice" not in translation.body
    assert translation.warnings[-1] == (
        "tool_choice names 'web_search', which the backend does not get; omitted"
    )
    only_server = translate(tools=[WEB_SEARCH], tool_choice=choice).body
    assert "tools" not in only_server and "tool_choice" not in only_server


def test_sampling_and_stop_sequences() -> None:
    body = translate(
        temperature=0.2, top_p=0.9, top_k=40, stop_sequences=["</done>", "\n\nQ:"]
    ).body
    assert (body["temperature"], body["top_p"], body["top_k"]) == (0.2, 0.9, 40)
    assert body["stop"] == ["</done>", "\n\nQ:"]
    assert "stop_sequences" not in body
    assert "stop" not in translate(stop_sequences=[]).body


def test_max_tokens_field_follows_the_backend_and_is_not_capped() -> None:
    body = translate(traits=BackendTraits(max_tokens_field="max_completion_tokens")).body
    assert body["max_completion_tokens"] == 32000
    assert "max_tokens" not in body


def test_metadata_is_dropped_and_recorded() -> None:
    translation = translate(metadata={"user_id": '{"device_id":"abc"}'})
    assert "metadata" not in translation.body and "user" not in translation.body
    assert "metadata dropped" in translation.changes
    assert "metadata dropped" not in translate().changes


@pytest.mark.parametrize(
    ("stream", "traits", "expected"),
    [
        (True, BackendTraits(), {"stream": True, "stream_options": {"include_usage": True}}),
        (True, BackendTraits(stream_usage=False), {"stream": True}),
        (False, BackendTraits(), {"stream": False}),
    ],
)
def test_stream_options(stream: bool, traits: BackendTraits, expected: dict[str, Any]) -> None:
    body = translate(traits=traits, stream=stream).body
    assert {k: body[k] for k in ("stream", "stream_options") if k in body} == expected


TITLE_SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}},
    "required": ["title"],
    "additionalProperties": False,
}


def test_output_format_becomes_response_format() -> None:
    fmt = {"type": "json_schema", "schema": TITLE_SCHEMA}
    body = translate(output_config={"effort": "high", "format": fmt}).body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": TITLE_SCHEMA, "strict": True},
    }


def test_output_format_without_backend_support_is_a_warning() -> None:
    fmt = {"type": "json_schema", "schema": TITLE_SCHEMA}
    translation = translate(traits=BackendTraits(json_schema=False), output_config={"format": fmt})
    assert "response_format" not in translation.body
    assert translation.warnings == (
        "this backend has no structured output; the JSON schema was dropped",
    )
    other = translate(output_config={"format": {"type": "grammar"}})
    assert "response_format" not in other.body
    assert other.warnings == ("output format 'grammar' is not supported; dropped",)


EFFORT = BackendTraits(reasoning_effort=True)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, None),
        ({"thinking": {"type": "disabled"}}, None),
        ({"thinking": {"type": "adaptive"}}, "high"),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}}, "low"),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}}, "medium"),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}}, "high"),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "xhigh"}}, "high"),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}}, "high"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "low"),
        ({"thinking": {"type": "enabled", "budget_tokens": 4095}}, "low"),
        ({"thinking": {"type": "enabled", "budget_tokens": 4096}}, "medium"),
        ({"thinking": {"type": "enabled", "budget_tokens": 16383}}, "medium"),
        ({"thinking": {"type": "enabled", "budget_tokens": 16384}}, "high"),
        (
            {
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "output_config": {"effort": "high"},
            },
            "high",
        ),
    ],
)
def test_reasoning(fields: dict[str, Any], expected: str | None) -> None:
    body = translate(traits=EFFORT, **fields).body
    assert body["chat_template_kwargs"] == {"enable_thinking": expected is not None}
    assert body.get("reasoning_effort") == expected


def test_reasoning_knobs_follow_the_traits() -> None:
    thinking = {"type": "adaptive"}
    plain = translate(thinking=thinking).body
    assert plain["chat_template_kwargs"] == {"enable_thinking": True}
    assert "reasoning_effort" not in plain
    quiet = translate(traits=BackendTraits(thinking_switch=False), thinking=thinking).body
    assert "chat_template_kwargs" not in quiet and "reasoning_effort" not in quiet


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"tools": [WEB_SEARCH], "tool_choice": {"type": "tool", "name": "web_search"}}, True),
        ({"tools": [WEB_SEARCH], "tool_choice": {"type": "any"}}, True),
        ({"tools": [WEB_SEARCH], "tool_choice": {"type": "auto"}}, False),
        ({"tools": [WEB_SEARCH]}, False),
        ({"tools": [WEB_SEARCH], "tool_choice": {"type": "tool", "name": "other"}}, False),
        (
            {"tools": [WEB_SEARCH, BASH], "tool_choice": {"type": "tool", "name": "web_search"}},
            False,
        ),
        (
            {
                "tools": [{"type": "code_execution_20250522", "name": "code"}],
                "tool_choice": {"type": "any"},
            },
            False,
        ),
        ({"tools": [], "tool_choice": {"type": "any"}}, False),
        ({}, False),
    ],
)
def test_is_web_search_request(fields: dict[str, Any], expected: bool) -> None:
    assert is_web_search_request(request(**fields)) is expected


# --- every request Claude Code really sent ---------------------------------------------------

FIXTURES = fixture_names()


def test_the_fixtures_are_there() -> None:
    assert "claude-code-2.1.197-print-bash-roundtrip-turn2" in FIXTURES
    assert "claude-code-2.1.197-interactive-title-small-model" in FIXTURES
    assert len(FIXTURES) >= 7


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_translates_for_strict_templates(name: str) -> None:
    req = fixture_request(name)
    translation = anthropic_to_openai(req, "gemma-3-270m", stream=True)
    body = translation.body
    messages = body["messages"]
    assert_strict_template(messages)
    assert "x-anthropic-billing-header" not in orjson.dumps(messages).decode()
    assert all(m["role"] != "system" for m in messages[1:])
    assert "user" not in body and "metadata" not in body
    tools = req.get("tools")
    if not tools:
        assert "tools" not in body and "tool_choice" not in body
    else:
        # Deferred tools (tool search) reach the model once a tool_reference has named them.
        names = [t["function"]["name"] for t in body["tools"]]
        assert names == [t["name"] for t in visible_tools(cast("dict[str, Any]", req))]
    if "metadata" in req:
        assert "metadata dropped" in translation.changes
    system_messages = sum(m["role"] == "system" for m in req["messages"])
    if system_messages:
        assert f"{system_messages} system message merged into user turns" in translation.changes
        assert "<system-reminder>" in orjson.dumps(messages[1]).decode()
    system = req.get("system")
    billing = isinstance(system, list) and any(
        b["text"].startswith("x-anthropic-billing-header:") for b in system
    )
    assert ("billing header removed" in translation.changes) is billing


def test_title_request_gets_response_format() -> None:
    req = fixture_request("claude-code-2.1.197-interactive-title-small-model")
    body = anthropic_to_openai(req, "small", stream=True).body
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema == req["output_config"]["format"]["schema"]  # type: ignore[index]
    assert "tools" not in body


@pytest.mark.parametrize(
    "name",
    [
        "claude-code-2.1.197-print-bash-roundtrip-turn2",
        "claude-code-2.1.197-bare-bash-roundtrip-turn2",
    ],
)
def test_tool_round_trip_fixture_has_its_tool_message(name: str) -> None:
    req = fixture_request(name)
    messages = anthropic_to_openai(req, "local", stream=True).body["messages"]
    assert messages[-2]["tool_calls"][0]["id"] == "toolu_fake000000000000000001"
    assert messages[-2]["content"] == "Let me run that."
    assert messages[-1] == {
        "role": "tool",
        "tool_call_id": "toolu_fake000000000000000001",
        "content": "hi",
    }


@pytest.mark.alone
def test_a_75_kb_request_translates_well_under_a_millisecond() -> None:
    req = max((fixture_request(name) for name in FIXTURES), key=lambda r: len(orjson.dumps(r)))
    assert len(orjson.dumps(req)) > 70_000
    best = min(_timed(req) for _ in range(30))
    assert best < 0.001, f"{best * 1e6:.0f} µs"


def _timed(req: MessagesRequest) -> float:
    start = time.perf_counter()
    anthropic_to_openai(req, "local", stream=True)
    return time.perf_counter() - start
