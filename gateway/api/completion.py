"""What the gateway does once an answer is complete: store a thread turn, and answer the fields
the backend cannot (`context_management`'s applied edits)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from gateway.threads import ThreadStore, remember

log = logging.getLogger("lmgate.threads")

__all__ = ["Completion", "completion", "context_management_notes"]

# Called with the client's whole message; returns the fields its answer gets at the top level
# (the message's, or a stream's final message_delta's).
Completion = Callable[[dict[str, Any]], Awaitable[Mapping[str, Any]]]

# `clear_thinking` with keep "all" clears nothing; the gateway drops thinking history before a
# local model sees it anyway.
_NOTHING_TO_CLEAR = "clear_thinking_20251015"


def context_management_notes(config: Any) -> tuple[list[str], list[str]]:
    """(changes, warnings) for the record: the gateway applies no edit, and says which ones it
    did not apply that would have changed the prompt."""
    listed = config.get("edits") if isinstance(config, dict) else None
    edits = [edit for edit in listed if isinstance(edit, dict)] if isinstance(listed, list) else []
    kinds = [str(edit.get("type")) for edit in edits]
    changes = [
        "context_management answered by the gateway: no edits applied"
        + (f" ({', '.join(kinds)})" if kinds else "")
    ]
    warnings = [
        f"context_management edit {kind} not applied: the prompt is sent whole"
        for edit, kind in zip(edits, kinds, strict=True)
        if not (kind == _NOTHING_TO_CLEAR and edit.get("keep") == "all")
    ]
    return changes, warnings


def completion(
    *,
    threads: ThreadStore,
    message_id: str,
    thread_request: dict[str, Any] | None,
    context_management: bool,
    continues: str | None = None,
) -> Completion | None:
    """The relay's completion hook for one request; None when there is nothing to do.
    `continues`: the reply a thread's `continue` named, dropped once this turn is stored."""
    if thread_request is None and not context_management:
        return None

    async def complete(message: dict[str, Any]) -> Mapping[str, Any]:
        if thread_request is not None:
            # Stored before the answer's last frame: a replica asked to continue it next finds it.
            try:
                await remember(threads, message_id, thread_request, message, replaces=continues)
            except Exception as exc:  # a shared store down: the answer still goes out whole
                # and a continue of it gets the 404 on which the SDKs replay the conversation.
                log.warning("the thread turn %s could not be stored: %s", message_id, exc)
        if context_management and "context_management" not in message:
            return {"context_management": {"applied_edits": []}}
        return {}

    return complete
