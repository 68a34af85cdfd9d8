"""Plays a planned reply onto an ASGI connection: the gates, the stall, the status line, then
each step (bytes, a pause, a cut), watching all along for the client going away."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tests.fakes.render import Cut, Pause, Plan

__all__ = ["Message", "Receive", "Scope", "Send", "play"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def play(plan: Plan, receive: Receive, send: Send, stopping: asyncio.Event) -> bool:
    """Send the plan; False when the client went away before the response was complete.
    When the fake is stopped mid-reply the response is left unfinished (uvicorn then closes
    the connection, or answers 500 if nothing was sent yet)."""
    gone = asyncio.Event()

    async def watch() -> None:
        # The request body has been read: the next message is the disconnect (uvicorn also
        # reports one once the response is complete, which is ignored then).
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    async def pause(seconds: float | None, until: Awaitable[None] | None = None) -> bool:
        """True when the time passed (or `until` came); False when the client left or the fake
        is stopping."""
        waits: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(gone.wait()),
            asyncio.ensure_future(stopping.wait()),
        ]
        if until is not None:
            waits.append(asyncio.ensure_future(until))
        done, pending = await asyncio.wait(waits, timeout=seconds, return_when="FIRST_COMPLETED")
        for waiter in pending:
            waiter.cancel()
        return not done or (until is not None and waits[-1] in done)

    watcher = asyncio.create_task(watch())
    try:
        for gate in plan.gates:
            if not await pause(None, gate.wait()):
                return not gone.is_set()
        if plan.stall > 0 and not await pause(plan.stall):
            return not gone.is_set()
        await send(
            {
                "type": "http.response.start",
                "status": plan.status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in plan.headers],
            }
        )
        for step in plan.steps:
            if isinstance(step, Pause):
                if not await pause(step.seconds):
                    return not gone.is_set()
            elif isinstance(step, Cut):
                # Returning without the final body message makes uvicorn close the connection.
                return True
            else:
                await send({"type": "http.response.body", "body": step, "more_body": True})
                # Let the watcher see a disconnect between two events of a fast stream.
                await asyncio.sleep(0)
                if gone.is_set():
                    return False
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return True
    finally:
        watcher.cancel()
