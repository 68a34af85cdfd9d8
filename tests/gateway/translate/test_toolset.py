"""Mid-conversation tool changes and deferred tools give the tool list the backend sees."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.schemas.anthropic import MessagesRequest, parse_messages_request
from gateway.translate.request import anthropic_to_openai, backend_tool_names
from gateway.translate.toolset import effective_tools


def tool(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "input_schema": {"type": "object"}, **extra}


def change(kind: str, name: str) -> dict[str, Any]:
    return {"type": kind, "tool": {"type": "tool_reference", "name": name}}


def request(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> MessagesRequest:
    body = {"model": "m", "max_tokens": 10, "messages": messages, "tools": tools}
    return parse_messages_request(orjson.dumps(body))


TOOLS = [
    tool("Read"),
    tool("Bash"),
    tool("Deploy", defer_loading=True),
    tool("Notes", defer_loading=True),
]


def names(req: MessagesRequest) -> list[str]:
    return [t["name"] for t in effective_tools(req)[0]]


def test_without_changes_the_declared_tools_stand_but_deferred_ones_wait() -> None:
    req = request([{"role": "user", "content": "hi"}], TOOLS)
    assert names(req) == ["Read", "Bash"]
    plain = request([{"role": "user", "content": "hi"}], TOOLS[:2])
    assert effective_tools(plain) == (plain["tools"], [])


def test_additions_and_removals_apply_in_order_and_unknown_names_warn() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "hi"},
        {
            "role": "system",
            "content": [change("tool_addition", "Deploy"), change("tool_removal", "Bash")],
        },
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "go"},
        {
            "role": "system",
            "content": [
                change("tool_removal", "Deploy"),
                change("tool_addition", "Ghost"),
                {"type": "text", "text": "<total_tokens>9 tokens left</total_tokens>"},
            ],
        },
    ]
    req = request(messages, TOOLS)
    tools, warnings = effective_tools(req)
    assert [t["name"] for t in tools] == ["Read"]
    assert warnings == ["tool_addition names the tool 'Ghost', which is not in tools; ignored"]
    translation = anthropic_to_openai(req, "local", stream=False)
    assert [t["function"]["name"] for t in translation.body["tools"]] == ["Read"]
    assert "3 deferred or removed tool(s) withheld from the backend" in translation.changes
    assert "4 tool changes applied to the tool list" in translation.changes
    # The changes are not text for the model; the system message's text still is.
    sent = orjson.dumps(translation.body["messages"]).decode()
    assert "tool_addition" not in sent and "omitted" not in sent and "9 tokens left" in sent
    assert backend_tool_names(req) == ("Read",)


def test_a_tool_reference_in_a_tool_result_loads_a_deferred_tool() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "find a deploy tool"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [{"type": "tool_reference", "tool_name": "Deploy"}],
                }
            ],
        },
    ]
    req = request(messages, TOOLS)
    assert names(req) == ["Read", "Bash", "Deploy"]
    tool_message = anthropic_to_openai(req, "local", stream=False).body["messages"][-1]
    assert tool_message == {
        "role": "tool",
        "tool_call_id": "t1",
        "content": "[tool Deploy loaded: it can be called now]",
    }
