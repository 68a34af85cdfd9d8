"""Which scenario route a request takes, on the bodies and headers Claude Code really sends
(tests/fixtures/claude-code) and on the shapes each route is for."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.config import RoutesConfig
from gateway.routing import Route
from gateway.scenarios import match
from gateway.schemas.anthropic import MessagesRequest, parse_messages_request
from tests.paths import load_fixture

ALL = RoutesConfig.model_validate(
    {
        "long_context": {"threshold": 1000, "targets": ["long"]},
        "images": {"targets": ["vision"]},
        "thinking": {"targets": ["thinker"], "min_effort": "xhigh"},
        "subagent": {"targets": ["agent"]},
        "background": {"targets": ["side"]},
    }
)
BIG = Route("b", "m", "big", "big")
SMALL = Route("b", "m", "haiku", "small")


def fixture(name: str) -> tuple[MessagesRequest, dict[str, str]]:
    data = load_fixture(name)
    headers = {k.lower(): v for k, v in data["headers"].items()}
    return parse_messages_request(orjson.dumps(data["body"])), headers


def request(**fields: Any) -> MessagesRequest:
    body = {"model": "claude-sonnet-5-5", "max_tokens": 64, **fields}
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return parse_messages_request(orjson.dumps(body))


def name_of(
    req: MessagesRequest, headers: dict[str, str], route: Route, tokens: int = 10
) -> str | None:
    found = match(req, headers, route, ALL, lambda: tokens)
    return found.name if found else None


def test_claude_codes_main_loop_takes_no_scenario_route() -> None:
    # Adaptive thinking at effort medium, no agent header, no images, a short prompt.
    req, headers = fixture("claude-code-2.1.332-print-say-hi.json")
    assert name_of(req, headers, BIG) is None


@pytest.mark.parametrize(
    "name",
    [
        "claude-code-2.1.332-interactive-title-small-model.json",
        "claude-code-2.1.197-interactive-title-small-model.json",
    ],
)
def test_claude_codes_session_title_is_background(name: str) -> None:
    req, headers = fixture(name)
    found = match(req, headers, SMALL, ALL, lambda: 10)
    assert found is not None and found.name == "background"
    assert "output_config.format" in found.reason and found.targets == ("side",)


def test_a_subagent_is_told_apart_by_its_agent_header() -> None:
    req, headers = fixture("claude-code-2.1.332-print-say-hi.json")
    found = match(req, {**headers, "x-claude-code-agent-id": "a1b2"}, BIG, ALL, lambda: 10)
    assert found is not None and (found.name, found.reason) == (
        "subagent",
        "x-claude-code-agent-id: a1b2",
    )


def test_a_haiku_request_is_background() -> None:
    found = match(request(model="claude-haiku-4-5"), {}, SMALL, ALL, lambda: 10)
    assert found is not None and found.name == "background"


@pytest.mark.parametrize(
    ("thinking", "effort", "expected"),
    [
        ({"type": "adaptive"}, None, None),  # the API's default effort: high
        ({"type": "adaptive"}, "high", None),
        ({"type": "adaptive"}, "xhigh", "thinking"),
        ({"type": "adaptive", "display": "omitted"}, "max", "thinking"),
        ({"type": "enabled", "budget_tokens": 4000}, None, "thinking"),
        ({"type": "disabled"}, "max", None),
    ],
)
def test_thinking(thinking: dict[str, Any], effort: str | None, expected: str | None) -> None:
    fields: dict[str, Any] = {"thinking": thinking}
    if effort:
        fields["output_config"] = {"effort": effort}
    assert name_of(request(**fields), {}, BIG) == expected


def test_images_anywhere_in_the_conversation() -> None:
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
    }
    messages = [
        {"role": "user", "content": "look"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "Shot", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [image]}],
        },
    ]
    found = match(request(messages=messages), {}, BIG, ALL, lambda: 10)
    assert found is not None and (found.name, found.reason) == ("images", "1 image block")


def test_long_context_counts_only_when_set_and_wins_first() -> None:
    counted: list[int] = []

    def tokens() -> int:
        counted.append(1)
        return 5000

    found = match(request(model="claude-haiku-4-5"), {}, SMALL, ALL, tokens)
    assert found is not None and found.name == "long_context"
    assert found.reason == "prompt of 5,000 tokens > 1,000"
    without = RoutesConfig.model_validate({"background": {"targets": ["side"]}})
    counted.clear()
    assert match(request(), {}, BIG, without, tokens) is None
    assert counted == []


def test_a_request_naming_a_backend_model_is_never_rerouted() -> None:
    exact = Route("b", "m", "exact")
    assert (
        match(
            request(model="claude-haiku-4-5"),
            {"x-claude-code-agent-id": "x"},
            exact,
            ALL,
            lambda: 10**6,
        )
        is None
    )
