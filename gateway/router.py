"""The router: which of a request's choices to try first, and what it learns from each try.

Per-request state shared by all requests, held by `api.state.GatewayState` and handed to the
relay, like the thread store: the in-flight count per backend (least busy first among replicas)
and a circuit breaker per backend (gateway/breaker.py). `MemoryRouter` keeps both in the
process; a shared twin (Redis) can implement the same Protocol for gateways behind one balancer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

from gateway.breaker import Breaker, BreakerState
from gateway.candidates import Choice, Target
from gateway.config import BreakerConfig

__all__ = ["MemoryRouter", "Order", "Router", "Verdict"]

# What a try says of the backend's health: "ok" and "failed" feed its breaker; "neutral" (a
# 4xx, the gateway's own queue full) and "abandoned" (the client left) do not.
Verdict = Literal["ok", "failed", "neutral", "abandoned"]
Order = tuple[list[Choice], list[Choice]]  # to try in this order, skipped (breaker open)


class Router(Protocol):
    def order(self, targets: Sequence[Target]) -> Order:
        """Each target's choices healthy first, then least busy, flattened in target order;
        the choices whose breaker is open apart. When every choice is open, all of them are
        tried, in order: an open breaker everywhere must not turn the gateway off."""
        ...

    def begin(self, backend_id: str) -> None:
        """A request goes to the backend (waiting for its slot counts: it is busy)."""
        ...

    def end(self, backend_id: str, verdict: Verdict) -> None: ...

    def in_flight(self, backend_id: str) -> int: ...

    def breaker(self, backend_id: str) -> BreakerState: ...


class MemoryRouter:
    """The in-process router. Used from the event loop only."""

    def __init__(
        self, config: BreakerConfig | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        config = config or BreakerConfig()
        self._fresh = Breaker(failures=config.failures, cooldown=config.cooldown)
        self._clock = clock
        self._breakers: dict[str, Breaker] = {}
        self._busy: dict[str, int] = {}

    def order(self, targets: Sequence[Target]) -> Order:
        now = self._clock()
        tried: list[Choice] = []
        skipped: list[Choice] = []
        for target in targets:
            ranked = sorted(
                enumerate(target),
                key=lambda item: (self._busy.get(item[1].backend_id, 0), item[0]),
            )
            for _, choice in ranked:
                allowed = self._breaker(choice.backend_id).allows(now)
                (tried if allowed else skipped).append(choice)
        if not tried:
            return skipped, []
        return tried, skipped

    def begin(self, backend_id: str) -> None:
        self._busy[backend_id] = self._busy.get(backend_id, 0) + 1
        self._breakers[backend_id] = self._breaker(backend_id).on_attempt(self._clock())

    def end(self, backend_id: str, verdict: Verdict) -> None:
        self._busy[backend_id] = max(0, self._busy.get(backend_id, 0) - 1)
        breaker, now = self._breaker(backend_id), self._clock()
        if verdict == "ok":
            breaker = breaker.on_success(now)
        elif verdict == "failed":
            breaker = breaker.on_failure(now)
        else:
            breaker = breaker.on_abandon(now)
        self._breakers[backend_id] = breaker

    def in_flight(self, backend_id: str) -> int:
        return self._busy.get(backend_id, 0)

    def breaker(self, backend_id: str) -> BreakerState:
        return self._breaker(backend_id).status(self._clock())

    def _breaker(self, backend_id: str) -> Breaker:
        return self._breakers.get(backend_id, self._fresh)
