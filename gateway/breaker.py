"""A circuit breaker per backend: a small pure state machine, the clock passed in.

    closed     requests flow; `failures` failures in a row open it
    open       skipped until `cooldown` s have passed since it opened
    half-open  one request goes through as the probe: a success closes it, a failure opens it
               again for another cooldown; other requests skip it while the probe runs

Only the backend's health counts: a connection failure, a 5xx or an overload. A 4xx (the
client's fault, a context overflow) is neither a success nor a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

__all__ = ["Breaker", "BreakerState"]

BreakerState = Literal["closed", "open", "half-open"]


@dataclass(frozen=True, slots=True)
class Breaker:
    failures: int = 3  # failures in a row that open it
    cooldown: float = 30.0  # seconds it stays open before a probe
    state: BreakerState = "closed"
    failed: int = 0  # failures in a row so far
    opened_at: float = 0.0
    probing: bool = False  # the half-open probe is in flight

    def status(self, now: float) -> BreakerState:
        """The state at `now`: an open breaker whose cooldown is over is half-open."""
        if self.state == "open" and now - self.opened_at >= self.cooldown:
            return "half-open"
        return self.state

    def allows(self, now: float) -> bool:
        """Whether a request may go to the backend now (without taking the probe)."""
        status = self.status(now)
        return status == "closed" or (status == "half-open" and not self.probing)

    def on_attempt(self, now: float) -> Breaker:
        """A request goes to the backend: in half-open, it is the probe."""
        if self.status(now) == "half-open":
            return replace(self, state="half-open", probing=True)
        return self

    def on_success(self, now: float) -> Breaker:
        return replace(self, state="closed", failed=0, probing=False)

    def on_failure(self, now: float) -> Breaker:
        failed = self.failed + 1
        if self.status(now) == "half-open" or failed >= self.failures:
            return replace(self, state="open", failed=failed, opened_at=now, probing=False)
        return replace(self, failed=failed)

    def on_abandon(self, now: float) -> Breaker:
        """The request ended without a verdict (the client left): the probe is free again."""
        return replace(self, probing=False) if self.probing else self
