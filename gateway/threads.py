"""Message threads (beta `message-threads-2026-08-12`), emulated: the conversation is kept here.

A `create` turn is a full request; once its answer is complete the conversation (the request's
fields, its messages and the assistant's reply) is stored under the reply's `msg_…` id. A
`continue` turn sends only the new messages and `previous_message_id`: the gateway rebuilds the
whole request from what it stored, so a stateless backend always sees the full conversation.
Expiry follows the API: 5 minutes after the last use, sliding, and bounded by count and bytes.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson

from gateway.errors import InvalidRequest, ThreadNotFound
from gateway.translate.conversation import BILLING_PREFIX

__all__ = [
    "MemoryThreadStore",
    "StoredThread",
    "ThreadStore",
    "ThreadTurn",
    "conversation_after",
    "expand_continue",
    "lookup",
    "open_turn",
    "remember",
    "thread_turn",
]

TTL_SECONDS = 300.0
# Fields of a turn that describe the turn itself, never the conversation.
_TURN_ONLY = frozenset({"thread", "diagnostics", "stream"})
# Fields no backend gets: the gateway answers them (threads) or has nothing to say (diagnostics
# asks Anthropic's API why its prompt cache missed).
_GATEWAY_ONLY = ("thread", "diagnostics")


@dataclass(frozen=True, slots=True)
class ThreadTurn:
    """What a request's `thread` field asks for."""

    kind: Literal["create", "continue"]
    previous_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredThread:
    """A conversation as the next `continue` needs it: every request field and all messages,
    the stored reply last. `size` is what it counts against the store's byte budget."""

    fields: dict[str, Any]
    size: int


class ThreadStore(Protocol):
    """Where conversations live between turns: in this process by default, in Redis when
    replicas share them (gateway/team/redis_shared.py)."""

    async def get(self, message_id: str) -> StoredThread | None: ...

    async def put(self, message_id: str, thread: StoredThread) -> None: ...

    async def discard(self, message_id: str) -> None: ...


def thread_turn(request: dict[str, Any]) -> ThreadTurn | None:
    """The request's `thread` field, checked; None when it has none."""
    thread = request.get("thread")
    if thread is None:
        return None
    if not isinstance(thread, dict):
        raise InvalidRequest("thread: expected an object")
    kind = thread.get("type")
    if kind == "create":
        return ThreadTurn("create")
    if kind == "continue":
        previous = thread.get("previous_message_id")
        if not isinstance(previous, str) or not previous:
            raise InvalidRequest("thread.previous_message_id: a `continue` needs the id of a reply")
        return ThreadTurn("continue", previous)
    raise InvalidRequest("thread.type: expected `create` or `continue`")


def expand_continue(stored: StoredThread, request: dict[str, Any]) -> dict[str, Any]:
    """The whole request a `continue` stands for: the stored conversation, then its new
    messages. Its other fields win; its tools replace the stored ones when it has them. Its
    `system` replaces the stored one only when it says more than Claude Code's attribution line,
    which a continue carries alone (the gateway drops that line before a backend sees it)."""
    fields = {key: value for key, value in stored.fields.items() if key != "messages"}
    for key, value in request.items():
        if key in _TURN_ONLY or key == "messages":
            continue
        if key == "system" and _attribution_only(value) and "system" in fields:
            continue
        fields[key] = value
    fields["messages"] = [*stored.fields["messages"], *(request.get("messages") or [])]
    if "stream" in request:
        fields["stream"] = request["stream"]
    return fields


def conversation_after(request: dict[str, Any], reply: dict[str, Any]) -> StoredThread:
    """What to store once `reply` to the (whole) `request` is complete."""
    fields = {key: value for key, value in request.items() if key not in _TURN_ONLY}
    fields["messages"] = [
        *(request.get("messages") or []),
        {"role": "assistant", "content": reply.get("content") or []},
    ]
    return StoredThread(fields, _size(fields))


class MemoryThreadStore:
    """Threads in this process: least recently used first out, past a count or a byte budget,
    and gone `ttl` seconds after their last use."""

    def __init__(
        self,
        *,
        ttl: float = TTL_SECONDS,
        max_threads: int = 512,
        max_bytes: int = 256 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_threads = max_threads
        self.max_bytes = max_bytes
        self._clock = clock
        self._threads: OrderedDict[str, tuple[StoredThread, float]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._threads)

    @property
    def bytes(self) -> int:
        return self._bytes

    async def get(self, message_id: str) -> StoredThread | None:
        self._expire()
        entry = self._threads.get(message_id)
        if entry is None:
            return None
        # A continue is a use: the thread's 5 minutes start again.
        self._threads[message_id] = (entry[0], self._clock())
        self._threads.move_to_end(message_id)
        return entry[0]

    async def put(self, message_id: str, thread: StoredThread) -> None:
        if thread.size > self.max_bytes:
            return  # larger than the whole budget: a continue of it gets the 404 and replays
        self._drop(message_id)
        self._threads[message_id] = (thread, self._clock())
        self._bytes += thread.size
        self._expire()
        while len(self._threads) > self.max_threads or self._bytes > self.max_bytes:
            self._drop(next(iter(self._threads)))

    async def discard(self, message_id: str) -> None:
        self._drop(message_id)

    def _expire(self) -> None:
        deadline = self._clock() - self.ttl
        while self._threads:
            oldest, (_, used) = next(iter(self._threads.items()))
            if used > deadline:
                break
            self._drop(oldest)

    def _drop(self, message_id: str) -> None:
        entry = self._threads.pop(message_id, None)
        if entry is not None:
            self._bytes -= entry[0].size


async def lookup(store: ThreadStore, turn: ThreadTurn) -> StoredThread:
    """The stored conversation a `continue` names, or the API's 404 that makes the SDKs and
    Claude Code replay the whole conversation under a new thread."""
    assert turn.previous_message_id is not None
    stored = await store.get(turn.previous_message_id)
    if stored is None:
        raise ThreadNotFound()
    return stored


def _attribution_only(system: Any) -> bool:
    if isinstance(system, str):
        return system.startswith(BILLING_PREFIX) or not system.strip()
    if isinstance(system, list):
        return all(
            isinstance(block, dict)
            and isinstance(block.get("text"), str)
            and (block["text"].startswith(BILLING_PREFIX) or not block["text"].strip())
            for block in system
        )
    return False


def _size(fields: dict[str, Any]) -> int:
    """A cheap upper estimate of a conversation's memory: its JSON length, counted once."""
    return len(orjson.dumps(fields))


async def open_turn(
    store: ThreadStore, raw: dict[str, Any]
) -> tuple[ThreadTurn | None, dict[str, Any], list[str]]:
    """The request a turn stands for: (its `thread`, the whole request without the fields no
    backend gets, what the record says of it). A `continue` is rebuilt from the store (or is the
    404); a request without `thread` or `diagnostics` comes back as it is."""
    turn = thread_turn(raw)
    notes: list[str] = []
    if "diagnostics" in raw:
        notes.append("diagnostics dropped (the gateway has no prompt-cache report to give)")
    if turn is None:
        if not notes:
            return None, raw, notes
        whole = raw
    elif turn.kind == "create":
        whole = raw
        notes.append("thread create emulated: the gateway keeps the conversation")
    else:
        stored = await lookup(store, turn)
        whole = expand_continue(stored, raw)
        notes.append(
            f"thread continue emulated: {len(stored.fields['messages'])} stored message(s) "
            f"rebuilt from {turn.previous_message_id}"
        )
    return turn, {k: v for k, v in whole.items() if k not in _GATEWAY_ONLY}, notes


async def remember(
    store: ThreadStore,
    message_id: str,
    request: dict[str, Any],
    reply: dict[str, Any],
    *,
    replaces: str | None = None,
) -> None:
    """Store a thread turn once its answer is complete: the next `continue` names `message_id`.
    The turn it continued (`replaces`) is dropped: the API continues a reply once (a second
    `continue` of it is refused there too), and the new entry holds all of it."""
    await store.put(message_id, conversation_after(request, reply))
    if replaces is not None:
        await store.discard(replaces)
