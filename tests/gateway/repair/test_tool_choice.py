"""tool_choice emulated for backends that ignore it: the requirement, the line, the check."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from gateway.errors import InvalidRequest
from gateway.repair.tool_choice import ToolRequirement, required_tool, satisfies, with_instruction
from gateway.schemas.anthropic import MessagesRequest, parse_messages_request

TOOLS = [
    {"name": "Bash", "input_schema": {"type": "object"}},
    {"name": "Read", "input_schema": {"type": "object"}},
    {"type": "web_search_20250305", "name": "web_search"},
]


def request(choice: Any = None, tools: Any = TOOLS, **fields: Any) -> MessagesRequest:
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "List the files."}],
        **fields,
    }
    if tools is not None:
        body["tools"] = tools
    if choice is not None:
        body["tool_choice"] = choice
    return parse_messages_request(orjson.dumps(body))


@pytest.mark.parametrize(
    ("choice", "tools", "expected"),
    [
        (None, TOOLS, None),
        ({"type": "auto"}, TOOLS, None),
        ({"type": "none"}, TOOLS, None),
        ({"type": "any"}, TOOLS, ToolRequirement("any", ("Bash", "Read"))),
        (
            {"type": "any", "disable_parallel_tool_use": True},
            TOOLS,
            ToolRequirement("any", ("Bash", "Read")),
        ),
        ({"type": "tool", "name": "Read"}, TOOLS, ToolRequirement("tool", ("Read",))),
        ({"type": "any"}, None, None),
        ({"type": "any"}, [TOOLS[2]], None),
    ],
)
def test_required_tool(choice: Any, tools: Any, expected: ToolRequirement | None) -> None:
    assert required_tool(request(choice, tools)) == expected


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        (
            {"type": "tool", "name": "Write"},
            "tool_choice names the tool `Write`, which is not in tools",
        ),
        ({"type": "tool", "name": "web_search"}, "`web_search`, which is not in tools"),
        ({"type": "tool"}, "tool_choice.name: Field required"),
    ],
)
def test_a_tool_choice_naming_no_callable_tool_is_a_bad_request(choice: Any, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        required_tool(request(choice))


@pytest.mark.parametrize(
    ("requirement", "line"),
    [
        (ToolRequirement("tool", ("Read",)), "You must answer by calling the tool `Read` now."),
        (
            ToolRequirement("any", ("Bash", "Read")),
            "You must answer by calling one of these tools now: `Bash`, `Read`.",
        ),
    ],
)
def test_the_instruction(requirement: ToolRequirement, line: str) -> None:
    assert requirement.instruction == line


ONE = ToolRequirement("tool", ("Read",))
LINE = ONE.instruction


@pytest.mark.parametrize(
    ("messages", "system", "want_messages", "want_system"),
    [
        (
            [{"role": "user", "content": "Go."}],
            None,
            [{"role": "user", "content": f"Go.\n\n{LINE}"}],
            None,
        ),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}],
                }
            ],
            "Be brief.",
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t", "content": "ok"},
                        {"type": "text", "text": LINE},
                    ],
                }
            ],
            "Be brief.",
        ),
        (
            [{"role": "user", "content": "Go."}, {"role": "assistant", "content": "Calling"}],
            "Be brief.",
            [{"role": "user", "content": "Go."}, {"role": "assistant", "content": "Calling"}],
            f"Be brief.\n\n{LINE}",
        ),
        (
            [{"role": "user", "content": "Go."}, {"role": "assistant", "content": "Calling"}],
            [{"type": "text", "text": "Be brief."}],
            [{"role": "user", "content": "Go."}, {"role": "assistant", "content": "Calling"}],
            [{"type": "text", "text": "Be brief."}, {"type": "text", "text": LINE}],
        ),
        (
            [{"role": "user", "content": "Go."}, {"role": "assistant", "content": "Calling"}],
            None,
            [{"role": "user", "content": "Go."}, {"role": "assistant", "content": "Calling"}],
            LINE,
        ),
    ],
    ids=["user text", "user blocks", "prefill, system text", "prefill, system blocks", "no system"],
)
def test_with_instruction(messages: Any, system: Any, want_messages: Any, want_system: Any) -> None:
    fields: dict[str, Any] = {"messages": messages}
    if system is not None:
        fields["system"] = system
    req = request({"type": "tool", "name": "Read"}, **fields)
    before = copy.deepcopy(req)
    changed = with_instruction(req, ONE)
    assert req == before
    assert changed["messages"] == want_messages
    assert changed.get("system") == want_system
    assert {k: v for k, v in changed.items() if k not in ("messages", "system")} == {
        k: v for k, v in req.items() if k not in ("messages", "system")
    }


def tool_use(name: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": "toolu_1", "name": name, "input": {}}


@pytest.mark.parametrize(
    ("content", "requirement", "expected"),
    [
        ([tool_use("Read")], ONE, True),
        ([{"type": "text", "text": "I will read it."}, tool_use("Read")], ONE, True),
        ([tool_use("Bash")], ONE, False),
        ([tool_use("Bash")], ToolRequirement("any", ("Bash", "Read")), True),
        ([{"type": "text", "text": '{"name": "Read"}'}], ONE, False),
        ([], ONE, False),
        ("Read", ONE, False),
    ],
)
def test_satisfies(content: Any, requirement: ToolRequirement, expected: bool) -> None:
    assert satisfies({"type": "message", "content": content}, requirement) is expected
