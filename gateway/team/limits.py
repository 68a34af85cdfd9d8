"""A client key's limits: requests per minute and input + output tokens per UTC day.

Both are counted in fixed windows (the minute, the UTC day) by a `Counters` store: this
process's (`MemoryCounters`) or Redis's, shared by every replica (`team/redis_shared.py`). A
request is admitted on what was spent before it started: one that begins under the budget
finishes, and what it spent counts against the next.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from gateway.errors import RateLimited
from gateway.team.clients import Client

__all__ = ["Counters", "Limiter", "MemoryCounters", "utc_day"]

_DAY = 86_400.0


def utc_day(now: float) -> str:
    return time.strftime("%Y%m%d", time.gmtime(now))


def _limited(message: str, kind: str, limit: int, reset: float, now: float) -> RateLimited:
    """A 429 with Anthropic's rate-limit headers for `kind` ("tokens" or "requests")."""
    header = f"anthropic-ratelimit-{kind}"
    return RateLimited(
        message,
        retry_after=reset - now,
        limits={
            f"{header}-limit": str(limit),
            f"{header}-remaining": "0",
            f"{header}-reset": _rfc3339(reset),
        },
    )


def _rfc3339(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


class Counters(Protocol):
    """Where the windows are counted."""

    async def hit(self, client: str, minute: int) -> int:
        """Count one request in `client`'s `minute`; returns the count so far."""
        ...

    async def spent(self, client: str, day: str) -> int: ...

    async def spend(self, client: str, day: str, tokens: int) -> None: ...


class MemoryCounters:
    """This process's counts; the day's tokens can be seeded from the usage kept on disk so a
    restart does not hand out a second budget."""

    def __init__(self) -> None:
        self._minutes: dict[str, tuple[int, int]] = {}
        self._days: dict[str, tuple[str, int]] = {}

    async def hit(self, client: str, minute: int) -> int:
        current, count = self._minutes.get(client, (minute, 0))
        count = count + 1 if current == minute else 1
        self._minutes[client] = (minute, count)
        return count

    async def spent(self, client: str, day: str) -> int:
        current, tokens = self._days.get(client, (day, 0))
        return tokens if current == day else 0

    async def spend(self, client: str, day: str, tokens: int) -> None:
        self.spend_now(client, day, tokens)

    def spend_now(self, client: str, day: str, tokens: int) -> None:
        """`spend` without a task: the request path's bus subscriber calls it for every record."""
        current, spent = self._days.get(client, (day, 0))
        self._days[client] = (day, (spent if current == day else 0) + tokens)


class Limiter:
    def __init__(self, counters: Counters, *, clock: Callable[[], float] = time.time) -> None:
        self.counters = counters
        self._clock = clock

    async def admit(self, client: Client) -> None:
        """Raise the 429 a client past its limits gets, with `retry-after` and Anthropic's
        anthropic-ratelimit-* headers for the limit it passed."""
        if client.daily_tokens is None and client.rpm is None:
            return
        now = self._clock()
        if client.daily_tokens is not None:
            spent = await self.counters.spent(client.name, utc_day(now))
            if spent >= client.daily_tokens:
                reset = (now // _DAY + 1) * _DAY
                raise _limited(
                    f"client {client.name!r} has used its daily budget of "
                    f"{client.daily_tokens} tokens ({spent} used); it renews at "
                    f"{_rfc3339(reset)}",
                    "tokens",
                    client.daily_tokens,
                    reset,
                    now,
                )
        if client.rpm is not None:
            minute = int(now // 60)
            count = await self.counters.hit(client.name, minute)
            if count > client.rpm:
                raise _limited(
                    f"client {client.name!r} has sent more than {client.rpm} requests this minute",
                    "requests",
                    client.rpm,
                    (minute + 1) * 60.0,
                    now,
                )

    async def charge(self, client: str, tokens: int) -> None:
        if tokens > 0:
            await self.counters.spend(client, utc_day(self._clock()), tokens)
