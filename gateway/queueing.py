"""Fair queueing per backend: at most `slots` requests run at once, up to `depth` more wait.

A local server with one slot (LM Studio and Ollama by default) answers one request at a time;
Claude Code sends its side requests (titles, summaries, haiku-class work) in parallel with the
main loop. Waiting requests are served main-loop first, then in arrival order; past the depth the
answer is 529 overloaded_error with retry-after, which Claude Code backs off on. Streamed requests
that wait are committed and kept alive with pings by the relay, so nothing times out in the queue.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.errors import BackendBusy

__all__ = ["MAIN", "SIDE", "BackendQueue"]

MAIN = 0
SIDE = 1


class BackendQueue:
    def __init__(self, slots: int, depth: int = 8, *, name: str = "backend") -> None:
        self.slots = max(1, slots)
        self.depth = max(0, depth)
        self.name = name
        self.active = 0
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, f in self._waiting if not f.done())

    @asynccontextmanager
    async def admit(self, priority: int = MAIN) -> AsyncIterator[float]:
        """Hold a slot for the block; yields the seconds spent waiting for it."""
        started = time.perf_counter()
        if self.active < self.slots and not self.waiting:
            self.active += 1
        else:
            if self.waiting >= self.depth:
                raise BackendBusy(
                    f"{self.name} is busy: {self.active} running and {self.waiting} waiting "
                    f"(queue depth {self.depth}); try again shortly",
                    retry_after=2,
                )
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (priority, next(self._order), future))
            try:
                await future  # the releasing request hands its slot over
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._release()  # handed over just as we left: pass it on
                raise
        try:
            yield time.perf_counter() - started
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)  # the slot moves to the waiter; active stays the same
                return
        self.active -= 1
