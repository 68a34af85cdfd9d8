"""Any valid Messages request translates, and alternating ones satisfy strict chat templates."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.schemas.anthropic import parse_messages_request
from gateway.translate.request import BackendTraits, anthropic_to_openai

from .template import assert_strict_template

texts = st.text(max_size=12)
text_block = texts.map(lambda t: {"type": "text", "text": t})
image_block = st.sampled_from(
    [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/i.png"}},
    ]
)
thinking_block = texts.map(lambda t: {"type": "thinking", "thinking": t, "signature": "sig"})
other_block = st.sampled_from(
    ["document", "redacted_thinking", "server_tool_use", "search_result", "container_upload", "new"]
).map(lambda kind: {"type": kind, "data": "…"})
json_values = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), texts)
tool_use_block = st.builds(
    lambda name, arguments: {"type": "tool_use", "id": "", "name": name, "input": arguments},
    st.sampled_from(["Bash", "Read", "Edit"]),
    st.dictionaries(st.text(max_size=4), json_values, max_size=3),
)
result_content = st.one_of(
    st.none(), texts, st.lists(st.one_of(text_block, image_block, other_block), max_size=3)
)
tool_result_block = st.builds(
    lambda content, error: {
        "type": "tool_result",
        "tool_use_id": "",
        **({} if content is None else {"content": content}),
        **({} if error is None else {"is_error": error}),
    },
    result_content,
    st.one_of(st.none(), st.booleans()),
)
user_content = st.one_of(
    texts,
    st.lists(
        st.one_of(text_block, image_block, tool_result_block, thinking_block, other_block),
        max_size=4,
    ),
)
assistant_content = st.one_of(
    texts, st.lists(st.one_of(text_block, tool_use_block, thinking_block, other_block), max_size=4)
)
system_content = st.one_of(texts, st.lists(text_block, max_size=2))
BILLING = {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.c40;"}
tools = st.lists(
    st.one_of(
        st.sampled_from(["Bash", "Read", "Edit"]).map(
            lambda n: {"name": n, "description": "d", "input_schema": {"type": "object"}}
        ),
        st.just({"type": "web_search_20250305", "name": "web_search", "max_uses": 8}),
    ),
    max_size=3,
)
tool_choice = st.one_of(
    st.none(),
    st.sampled_from([{"type": "auto"}, {"type": "any"}, {"type": "none"}]),
    st.sampled_from(["Bash", "web_search", "Gone"]).map(lambda n: {"type": "tool", "name": n}),
)


def _turn(draw: st.DrawFn, role: str) -> dict[str, Any]:
    if role == "system":
        return {"role": "system", "content": draw(system_content)}
    if role == "assistant":
        return {"role": "assistant", "content": draw(assistant_content)}
    return {"role": role, "content": draw(user_content)}


@st.composite
def requests(draw: st.DrawFn, alternating: bool) -> dict[str, Any]:
    if alternating:
        roles = ["user"] + ["assistant", "user"] * draw(st.integers(0, 3))
        messages: list[dict[str, Any]] = []
        for role in roles:
            messages.append(
                _turn(draw, draw(st.sampled_from(["user", "human"])) if role == "user" else role)
            )
            if draw(st.integers(0, 3)) == 0:  # now and then two turns of one role in a row
                messages.append(_turn(draw, role))
        for _ in range(draw(st.integers(0, 2))):
            messages.insert(draw(st.integers(0, len(messages))), _turn(draw, "system"))
    else:
        any_role = st.sampled_from(["user", "assistant", "system", "human"])
        messages = [_turn(draw, r) for r in draw(st.lists(any_role, min_size=1, max_size=6))]
    _assign_ids(draw, messages)
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": draw(st.integers(1, 64000)),
        "messages": messages,
    }
    system = draw(st.one_of(st.none(), texts, st.lists(st.one_of(text_block, st.just(BILLING)))))
    if system is not None:
        body["system"] = system
    body["tools"] = draw(tools)
    choice = draw(tool_choice)
    if choice is not None:
        body["tool_choice"] = choice
    thinking = draw(
        st.sampled_from(
            [
                None,
                {"type": "adaptive"},
                {"type": "disabled"},
                {"type": "enabled", "budget_tokens": 5000},
            ]
        )
    )
    if thinking is not None:
        body["thinking"] = thinking
    if draw(st.booleans()):
        body["output_config"] = {"effort": draw(st.sampled_from(["low", "high", "max"]))}
    if draw(st.booleans()):
        body["metadata"] = {"user_id": "u"}
    return body


def _assign_ids(draw: st.DrawFn, messages: list[dict[str, Any]]) -> None:
    """Unique tool_use ids; each tool_result answers a call of the last assistant turn, or not."""
    count = 0
    last_calls: list[str] = []
    for message in messages:
        if not isinstance(message["content"], list):
            continue
        calls = []
        for block in message["content"]:
            if block["type"] == "tool_use":
                count += 1
                block["id"] = f"toolu_{count}"
                calls.append(block["id"])
            elif block["type"] == "tool_result":
                block["tool_use_id"] = draw(st.sampled_from([*last_calls, "toolu_orphan"]))
        if message["role"] == "assistant":
            last_calls = calls


def _alternates(messages: list[dict[str, Any]]) -> bool:
    """Whether the turns, once system messages are set aside and same roles merged, start and
    end with the user (what Anthropic itself requires)."""
    roles: list[str] = []
    for message in messages:
        role = {"human": "user"}.get(message["role"], message["role"])
        if role != "system" and (not roles or roles[-1] != role):
            roles.append(role)
    return bool(roles) and roles[0] == "user" and roles[-1] == "user"


def _check(body: dict[str, Any], traits: BackendTraits, stream: bool) -> dict[str, Any]:
    req = parse_messages_request(orjson.dumps(body))
    translation = anthropic_to_openai(req, "local", stream=stream, traits=traits)
    out = translation.body
    orjson.dumps(out)
    assert all(m["role"] != "system" for m in out["messages"][1:])
    for message in out["messages"]:
        assert message["content"] is not None
        if message["role"] in ("assistant", "tool", "system"):
            assert isinstance(message["content"], str)
        for call in message.get("tool_calls", ()):
            assert isinstance(orjson.loads(call["function"]["arguments"]), dict)
    if "tool_choice" in out:
        assert out.get("tools")
        named = out["tool_choice"]
        if isinstance(named, dict):
            assert named["function"]["name"] in {t["function"]["name"] for t in out["tools"]}
    assert "metadata" not in out and "user" not in out
    assert "x-anthropic-billing-header" not in orjson.dumps(out["messages"][:1]).decode()
    return out


trait_sets = st.builds(BackendTraits, vision=st.booleans(), reasoning_effort=st.booleans())


@settings(max_examples=150, deadline=None)
@given(body=requests(alternating=True), traits=trait_sets, stream=st.booleans())
def test_alternating_requests_fit_strict_templates(
    body: dict[str, Any], traits: BackendTraits, stream: bool
) -> None:
    assert _alternates(body["messages"])
    out = _check(body, traits, stream)
    assert_strict_template(out["messages"])


@settings(max_examples=150, deadline=None)
@given(body=requests(alternating=False), traits=trait_sets, stream=st.booleans())
def test_any_request_translates(body: dict[str, Any], traits: BackendTraits, stream: bool) -> None:
    out = _check(body, traits, stream)
    if _alternates(body["messages"]):
        assert_strict_template(out["messages"])
