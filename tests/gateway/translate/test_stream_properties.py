"""The stream translator keeps the grammar for any chunking of a recorded stream's text."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.translate.stream import Event, StreamTranslator

from .chunks import RECORDED, Chunk
from .grammar import accumulate, assert_valid_stream


def translate(stream: list[Chunk]) -> tuple[list[Event], StreamTranslator]:
    translator = StreamTranslator(
        message_id="msg_9", client_model="claude-opus-4-8", input_tokens=11
    )
    events = translator.start()
    for chunk in stream:
        events += translator.feed(chunk)
    return events + translator.finish(), translator


def _pieces(text: str, data: st.DataObject) -> list[str]:
    if len(text) < 2:
        return [text]
    cuts = sorted(data.draw(st.sets(st.integers(1, len(text) - 1), max_size=6)))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def resplit(stream: list[Chunk], data: st.DataObject) -> list[Chunk]:
    """The same stream with every text and arguments string cut at drawn points, one field
    per chunk, in the order the translator reads a delta (reasoning, content, tool calls)."""
    out: list[Chunk] = []
    for chunk in stream:
        choices = chunk.get("choices")
        if not choices:
            out.append(chunk)
            continue
        choice = choices[0]
        delta = choice.get("delta") or {}

        def emit(fields: dict[str, Any], finish: str | None = None, base: Chunk = chunk) -> None:
            clone = copy.deepcopy(base)
            clone["choices"][0]["delta"] = fields
            clone["choices"][0]["finish_reason"] = finish
            out.append(clone)

        for key in ("reasoning_content", "reasoning", "content"):
            if delta.get(key):
                for piece in _pieces(delta[key], data):
                    emit({key: piece})
        for call in delta.get("tool_calls") or []:
            pieces = _pieces(call["function"].get("arguments") or "", data)
            head = copy.deepcopy(call)
            head["function"]["arguments"] = pieces[0]
            emit({"tool_calls": [head]})
            for piece in pieces[1:]:
                emit({"tool_calls": [{"index": call["index"], "function": {"arguments": piece}}]})
        if choice.get("finish_reason"):
            emit({}, choice["finish_reason"])
    return out


@pytest.mark.parametrize("name", list(RECORDED))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_split_keeps_grammar_and_message(name: str, data: st.DataObject) -> None:
    recorded = RECORDED[name]
    events, translator = translate(resplit(recorded, data))
    assert_valid_stream(events)
    whole_events, whole = translate(recorded)
    assert translator.message() == whole.message()
    assert accumulate(events) == translator.message()
    assert translator.warnings == whole.warnings == []
    assert [e for e in events if e[0] == "message_delta"] == [
        e for e in whole_events if e[0] == "message_delta"
    ]
