"""Message threads, emulated: what is stored, how a continue is rebuilt, expiry and bounds."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import orjson
import pytest

from gateway.errors import InvalidRequest, ThreadNotFound
from gateway.threads import (
    MemoryThreadStore,
    StoredThread,
    ThreadTurn,
    conversation_after,
    expand_continue,
    lookup,
    open_turn,
    remember,
    thread_turn,
)

T = TypeVar("T")


def run(work: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(work)


TOOLS = [{"name": "weather", "input_schema": {"type": "object"}}]
CREATE: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 100,
    "system": "You are terse.",
    "tools": TOOLS,
    "thread": {"type": "create"},
    "stream": True,
    "messages": [{"role": "user", "content": "Weather in Paris?"}],
}
REPLY: dict[str, Any] = {
    "id": "msg_1",
    "content": [{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"c": "Paris"}}],
}
RESULT = {
    "role": "user",
    "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}],
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (None, None),
        ({"type": "create"}, ThreadTurn("create")),
        (
            {"type": "continue", "previous_message_id": "msg_9"},
            ThreadTurn("continue", "msg_9"),
        ),
    ],
)
def test_thread_turn_reads_the_field(field: Any, expected: ThreadTurn | None) -> None:
    request = {} if field is None else {"thread": field}
    assert thread_turn(request) == expected


@pytest.mark.parametrize(
    ("field", "wording"),
    [
        ("create", "expected an object"),
        ({"type": "fork"}, "`create` or `continue`"),
        ({"type": "continue"}, "previous_message_id"),
        ({"type": "continue", "previous_message_id": ""}, "previous_message_id"),
    ],
)
def test_a_malformed_thread_is_a_clear_400(field: Any, wording: str) -> None:
    with pytest.raises(InvalidRequest, match=wording) as caught:
        thread_turn({"thread": field})
    assert caught.value.status == 400


def test_the_stored_conversation_ends_with_the_reply_and_drops_turn_fields() -> None:
    stored = conversation_after(CREATE, REPLY)
    assert stored.fields["messages"] == [
        CREATE["messages"][0],
        {"role": "assistant", "content": REPLY["content"]},
    ]
    assert "thread" not in stored.fields and "stream" not in stored.fields
    assert stored.fields["tools"] == TOOLS and stored.fields["system"] == "You are terse."
    assert stored.size == len(orjson.dumps(stored.fields))


def test_a_continue_rebuilds_the_whole_request() -> None:
    stored = conversation_after(CREATE, REPLY)
    turn = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 200,
        "thread": {"type": "continue", "previous_message_id": "msg_1"},
        "diagnostics": {"previous_message_id": "msg_1"},
        "stream": False,
        "messages": [RESULT],
    }
    whole = expand_continue(stored, turn)
    assert whole["messages"] == [*stored.fields["messages"], RESULT]
    assert whole["system"] == "You are terse." and whole["tools"] == TOOLS
    assert whole["max_tokens"] == 200  # the continue's fields win
    assert whole["stream"] is False
    assert "thread" not in whole and "diagnostics" not in whole


def test_a_continue_with_tools_replaces_the_stored_ones() -> None:
    stored = conversation_after(CREATE, REPLY)
    other = [{"name": "clock", "input_schema": {"type": "object"}}]
    whole = expand_continue(stored, {"messages": [RESULT], "tools": other})
    assert whole["tools"] == other


@pytest.mark.parametrize(
    "system",
    [
        "x-anthropic-billing-header: cc_version=2.1.332; cc_entrypoint=cli;",
        [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332;"}],
    ],
)
def test_claude_codes_attribution_alone_keeps_the_stored_system(system: Any) -> None:
    stored = conversation_after(CREATE, REPLY)
    whole = expand_continue(stored, {"messages": [RESULT], "system": system})
    assert whole["system"] == "You are terse."


def test_a_continue_with_a_real_system_prompt_replaces_it() -> None:
    stored = conversation_after(CREATE, REPLY)
    whole = expand_continue(stored, {"messages": [RESULT], "system": "Be verbose."})
    assert whole["system"] == "Be verbose."


def test_threads_expire_five_minutes_after_their_last_use() -> None:
    clock = Clock()
    store = MemoryThreadStore(clock=clock)
    run(store.put("msg_1", conversation_after(CREATE, REPLY)))
    clock.now += 299
    assert run(store.get("msg_1")) is not None  # a use: the five minutes start again
    clock.now += 299
    assert run(store.get("msg_1")) is not None
    clock.now += 301
    assert run(store.get("msg_1")) is None
    assert len(store) == 0 and store.bytes == 0


def test_the_store_is_bounded_by_count_and_bytes_least_recently_used_first() -> None:
    store = MemoryThreadStore(max_threads=3, max_bytes=10_000)
    for n in range(3):
        run(store.put(f"msg_{n}", StoredThread({"messages": []}, 100)))
    run(store.get("msg_0"))  # now the most recently used
    run(store.put("msg_3", StoredThread({"messages": []}, 100)))
    assert run(store.get("msg_1")) is None
    assert all(run(store.get(f"msg_{n}")) is not None for n in (0, 2, 3))
    run(store.put("msg_big", StoredThread({"messages": []}, 9_950)))
    assert len(store) == 1 and store.bytes == 9_950
    run(store.put("msg_huge", StoredThread({"messages": []}, 10_001)))
    assert run(store.get("msg_huge")) is None and run(store.get("msg_big")) is not None


def test_an_unknown_thread_is_the_404_the_sdks_replay_on() -> None:
    store = MemoryThreadStore()
    with pytest.raises(ThreadNotFound) as caught:
        run(lookup(store, ThreadTurn("continue", "msg_gone")))
    error = caught.value
    assert error.status == 404
    body = orjson.loads(error.body())
    assert body["type"] == "error"
    assert body["error"]["type"] == "not_found_error"
    assert body["error"]["details"] == {"error_code": "thread_not_found"}
    assert "previous_message_id" in body["error"]["message"]


def test_a_stored_turn_replaces_the_one_it_continued() -> None:
    store = MemoryThreadStore()
    run(remember(store, "msg_1", CREATE, REPLY))
    whole = expand_continue(
        run(lookup(store, ThreadTurn("continue", "msg_1"))), {"messages": [RESULT]}
    )
    run(
        remember(
            store,
            "msg_2",
            whole,
            {"content": [{"type": "text", "text": "sunny"}]},
            replaces="msg_1",
        )
    )
    assert run(store.get("msg_1")) is None
    second = run(store.get("msg_2"))
    assert second is not None and len(second.fields["messages"]) == 4
    assert len(store) == 1 and store.bytes == second.size


def test_open_turn_gives_the_whole_request_and_what_the_record_says() -> None:
    store = MemoryThreadStore()
    plain = {"model": "m", "messages": []}
    assert run(open_turn(store, plain)) == (None, plain, [])
    turn, whole, notes = run(
        open_turn(store, {**CREATE, "diagnostics": {"previous_message_id": "x"}})
    )
    assert turn == ThreadTurn("create") and "thread" not in whole and "diagnostics" not in whole
    assert notes == [
        "diagnostics dropped (the gateway has no prompt-cache report to give)",
        "thread create emulated: the gateway keeps the conversation",
    ]
    run(remember(store, "msg_1", whole, REPLY))
    follow = {"thread": {"type": "continue", "previous_message_id": "msg_1"}, "messages": [RESULT]}
    turn, whole, notes = run(open_turn(store, follow))
    assert turn == ThreadTurn("continue", "msg_1")
    assert whole["messages"][-1] == RESULT and whole["tools"] == TOOLS
    assert notes == ["thread continue emulated: 2 stored message(s) rebuilt from msg_1"]
    with pytest.raises(ThreadNotFound):
        run(
            open_turn(store, {**follow, "thread": {"type": "continue", "previous_message_id": "x"}})
        )
