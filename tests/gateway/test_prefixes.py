"""PrefixWatch: one note per way a prompt can stop continuing its conversation's last one, none
when it continues, and a bounded memory."""

from __future__ import annotations

from typing import Any

from gateway.prefixes import PrefixWatch

FIRST = {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {}}]}
TOOL = {"type": "function", "function": {"name": "Bash", "parameters": {}}}


def chat(*messages: str, tools: list[Any] | None = None) -> dict[str, Any]:
    return {
        "messages": [{"role": "system", "content": "sys"}]
        + [{"role": "user", "content": text} for text in messages],
        "tools": tools if tools is not None else [TOOL],
    }


def observe(watch: PrefixWatch, body: dict[str, Any], **kw: Any) -> str | None:
    options: dict[str, Any] = {"target": "fake/m", "protocol": "openai", **kw}
    return watch.observe("s1", [FIRST], body=body, **options)


def test_a_continued_prompt_has_no_note_and_a_changed_one_says_where() -> None:
    watch = PrefixWatch()
    assert observe(watch, chat("a")) is None  # a new conversation
    assert observe(watch, chat("a", "b")) is None
    assert observe(watch, chat("a", "b")) is None  # a retry
    assert observe(watch, chat("a", "B", "c")) == (
        "prefix changed at message 3 (user) of 3: the messages before it are reused"
    )
    assert observe(watch, chat("a")) is None  # an earlier prompt again: still a prefix
    assert observe(watch, chat("a", "B", "c")) is None
    renamed = {**TOOL, "function": {"name": "Shell", "parameters": {}}}
    assert observe(watch, chat("a", "B", "c", tools=[renamed])) == (
        "prefix changed at the tools (+Shell, -Bash): the whole prompt is read again"
    )
    assert observe(watch, chat("a", "B", "c", tools=[renamed]), target="fake/other") == (
        "prefix changed: the model is now fake/other (was fake/m); the whole prompt is read again"
    )
    assert observe(watch, chat("a"), target="fake/other", protocol="ollama") == (
        "prefix changed: sent as ollama (was openai); the whole prompt is read again"
    )


def test_the_native_prompt_ignores_cache_markers_and_string_content() -> None:
    watch = PrefixWatch()
    marked = {"role": "user", "content": [{"type": "text", "text": "a", "cache_control": {}}]}
    first = {"system": [{"type": "text", "text": "sys"}], "messages": [marked]}
    later = {
        "system": "sys",
        "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
    }
    assert observe(watch, first, protocol="anthropic") is None
    assert observe(watch, later, protocol="anthropic") is None
    other = {**later, "system": "changed"}
    assert observe(watch, other, protocol="anthropic") == (
        "prefix changed at the system prompt: the whole prompt is read again"
    )


def test_conversations_are_told_apart_and_bounded() -> None:
    watch = PrefixWatch(max_conversations=2)
    for session in ("s1", "s2", "s3"):
        assert watch.observe(session, [FIRST], target="t", protocol="openai", body=chat()) is None
    assert len(watch) == 2
    # Another first message is another conversation (a side request, a subagent).
    side = [{"role": "user", "content": "title?"}]
    assert watch.observe("s3", side, target="t", protocol="openai", body=chat("x")) is None
    assert watch.observe("s3", [FIRST], target="t", protocol="openai", body=chat("a")) is None
