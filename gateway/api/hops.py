"""A request's hops: its choices in the router's order, each planned when its turn comes.

The first hop is planned before the relay starts (a choice whose window cannot hold the prompt,
or whose backend is disabled, is passed over then); the relay asks for the next one after a
failure that allows a fallback (`falls_back`), and never once the client has been answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from gateway.api.plan import Plan
from gateway.api.record import RecordDraft
from gateway.backends.catalogue import CatalogueSnapshot
from gateway.candidates import Choice, fits
from gateway.errors import (
    BackendUnavailable,
    GatewayError,
    NotFound,
    Overloaded,
    PromptTooLong,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.queueing import BackendQueue
from gateway.upstream.client import Upstream

__all__ = ["Hop", "Hops", "falls_back", "outcome_of"]


@dataclass(slots=True)
class Hop:
    choice: Choice
    upstream: Upstream
    plan: Plan
    queue: BackendQueue | None


def falls_back(error: GatewayError) -> bool:
    """Whether another target may answer instead: the backend could not be reached or timed out
    connecting, answered 5xx or overloaded, or the prompt did not fit its window."""
    if isinstance(error, (BackendUnavailable, Overloaded, PromptTooLong, UpstreamTimeout)):
        return True
    return isinstance(error, UpstreamError) and error.status >= 500


def outcome_of(error: GatewayError) -> str:
    """A hop's outcome, in a few words (the error itself is the record's `error`)."""
    if isinstance(error, PromptTooLong):
        return "prompt too long" + (f" (window {error.maximum})" if error.maximum else "")
    if isinstance(error, BackendUnavailable):
        return "unreachable"
    if isinstance(error, Overloaded):
        return "overloaded"
    if isinstance(error, UpstreamTimeout):
        return "timed out"
    if isinstance(error, NotFound):
        return "unknown backend"
    return f"HTTP {error.status}"


class Hops:
    """`choices` in order (`skipped`: passed over, their breaker open). `upstream_of` gives a
    backend's client (on the event loop); `make` plans one choice with it, raising what the plan
    raises. `offload`: plan off the event loop (a large body's count and translation)."""

    def __init__(
        self,
        choices: list[Choice],
        upstream_of: Callable[[str], Upstream],
        make: Callable[[Choice, Upstream], Hop],
        *,
        draft: RecordDraft,
        snapshot: CatalogueSnapshot,
        skipped: list[Choice] | None = None,
        offload: bool = False,
    ) -> None:
        self._left = list(choices)
        self._upstream_of = upstream_of
        self._make = make
        self._draft = draft
        self._snapshot = snapshot
        self._offload = offload
        for choice in skipped or ():
            draft.attempted(choice.backend_id, choice.model, "skipped: breaker open")

    @property
    def remaining(self) -> int:
        return len(self._left)

    async def first(self) -> Hop:
        """The first choice that can be planned; when none can, the error the client must hear
        (a prompt too long anywhere first: on it, Claude Code compacts)."""
        passed: list[GatewayError] = []
        hop = await self._next_planned(passed)
        if hop is not None:
            return hop
        assert passed, "a request has at least one choice"
        raise next((exc for exc in passed if isinstance(exc, PromptTooLong)), passed[0])

    async def next(self, error: GatewayError) -> Hop | None:
        """The hop after `error`; None when no choice is left that could do better."""
        if isinstance(error, PromptTooLong):
            self._drop_too_small(error.tokens)
        return await self._next_planned([])

    async def _next_planned(self, passed: list[GatewayError]) -> Hop | None:
        """The next choice left that can be planned; the errors of those passed over on the way
        go in `passed`."""
        while self._left:
            choice = self._left.pop(0)
            try:
                return await self._plan(choice)
            except _PASSED_OVER as exc:
                self._passed_over(choice, exc)
                passed.append(exc)
        return None

    async def _plan(self, choice: Choice) -> Hop:
        upstream = self._upstream_of(choice.backend_id)
        if self._offload:
            return await asyncio.to_thread(self._make, choice, upstream)
        return self._make(choice, upstream)

    def _passed_over(self, choice: Choice, exc: GatewayError) -> None:
        self._draft.attempted(choice.backend_id, choice.model, outcome_of(exc))
        if isinstance(exc, PromptTooLong):
            self._drop_too_small(exc.tokens)

    def _drop_too_small(self, tokens: int | None) -> None:
        """After an overflow, only the choices that can hold the prompt (or may: unknown)."""
        if tokens is None:
            return
        kept: list[Choice] = []
        for choice in self._left:
            if fits(self._snapshot, choice, tokens) is False:
                self._draft.attempted(choice.backend_id, choice.model, "skipped: window too small")
            else:
                kept.append(choice)
        self._left = kept


# A choice that cannot be planned is passed over: its window is too small, its backend disabled
# or unknown.
_PASSED_OVER = (PromptTooLong, BackendUnavailable, NotFound)
