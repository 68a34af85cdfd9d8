"""`Team`: who a request comes from (its client key), whether it is within its limits, and where
its usage goes. The guard asks it; the request records tell it what was spent.

Keys are required when `--require-client-keys` is set, or off loopback whenever a client exists;
otherwise a client key is still recognised (its usage is its own) and the gateway token works as
before. `/metrics` wants the gateway token or an admin client key, always.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.errors import AuthenticationFailed, GatewayError
from gateway.events import RequestRecord
from gateway.loopback import is_loopback
from gateway.team.clients import Client, ClientBook
from gateway.team.limits import Limiter, MemoryCounters, utc_day
from gateway.team.metrics import Metrics

if TYPE_CHECKING:
    from gateway.team.ledger import SqliteLedger
    from gateway.team.redis_shared import RedisLedger
    from gateway.threads import ThreadStore

__all__ = ["CLIENT_SCOPE_KEY", "Team", "TeamFiles", "client_of"]

log = logging.getLogger("lmgate.team")

# Where the guard leaves the request's client for the handler (an ASGI scope extension key).
CLIENT_SCOPE_KEY = "lmgate.client"


def client_of(scope: Mapping[str, Any]) -> Client | None:
    client = scope.get(CLIENT_SCOPE_KEY)
    return client if isinstance(client, Client) else None


@dataclass(frozen=True, slots=True)
class TeamFiles:
    """The client list, and the usage history `lmgate serve` writes (None: the app's own
    history writes it, or nothing does)."""

    clients: Path
    history: Path | None = None


class Team:
    def __init__(
        self,
        files: TeamFiles,
        *,
        bind_host: str,
        require_keys: bool = False,
        redis_url: str | None = None,
    ) -> None:
        self.files = files
        self.book = ClientBook(files.clients)
        self.require_keys = require_keys
        self.off_loopback = not is_loopback(bind_host)
        self.redis_url = redis_url
        self.metrics = Metrics()
        self.limiter = Limiter(MemoryCounters())
        self._shared: RedisLedger | None = None
        self._redis: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._sqlite: SqliteLedger | None = None

    # --- lifecycle (the app's lifespan) -------------------------------------------------------

    async def start(self) -> ThreadStore | None:
        """Connect what is shared; returns the thread store replicas share (None: keep this
        process's)."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        if self.redis_url:
            try:
                from gateway.team import redis_shared
            except ImportError:
                raise RuntimeError(
                    "a Redis URL is configured but this build has no Redis client: run the "
                    "replicas with `lmgate serve` from a uv or pip install, or the container"
                ) from None

            self._redis = redis_shared.connect(self.redis_url)
            self.limiter.counters = redis_shared.RedisCounters(self._redis)
            self._shared = redis_shared.RedisLedger(self._redis)
            return redis_shared.RedisThreadStore(self._redis)
        if self.files.history is not None:
            from gateway.team.ledger import SqliteLedger

            ledger = SqliteLedger(self.files.history)
            self._sqlite = ledger
            if not self.book.any_budget():
                return None
            # What each client spent today before this start still counts against its budget.
            midnight = time.time() // 86_400 * 86_400
            for line in await ledger.usage_by(midnight, "client"):
                if line.client:
                    await self.limiter.charge(line.client, line.input_tokens + line.output_tokens)
        return None

    async def stop(self) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self._sqlite is not None:
            await asyncio.to_thread(self._sqlite.close)
        if self._redis is not None:
            await self._redis.aclose()

    # --- the guard's questions ----------------------------------------------------------------

    def enforced(self) -> bool:
        return self.require_keys or (self.off_loopback and bool(self.book))

    def identify(self, given: bytes | None) -> Client | None:
        if given is None or not self.book:
            return None
        return self.book.find(given)

    @staticmethod
    def refusal() -> GatewayError:
        return AuthenticationFailed(
            "invalid or missing client key: send the key `lmgate clients add` printed as "
            "x-api-key or 'Authorization: Bearer …' (ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN)"
        )

    async def admit(self, client: Client) -> None:
        """Raise the 429 of a client past its limits."""
        try:
            await self.limiter.admit(client)
        except GatewayError:
            raise
        except Exception as exc:  # the shared store down: refuse rather than give away budgets
            raise GatewayError(
                f"the client's limits cannot be checked: {type(exc).__name__}"
            ) from None

    # --- what was spent -----------------------------------------------------------------------

    def on_record(self, record: RequestRecord) -> None:
        """The bus's subscriber: metrics, usage, and the client's budget."""
        self.metrics.add(record)
        if self._sqlite is not None:
            self._sqlite.add(record)  # queued for its writer thread
        elif self._shared is not None:
            self._spawn(self._shared.add(record))
        tokens = (record.input_tokens or 0) + (record.output_tokens or 0)
        if record.client and tokens and self.book.budget_of(record.client) is not None:
            counters = self.limiter.counters
            if isinstance(counters, MemoryCounters):  # no task for what takes a microsecond
                counters.spend_now(record.client, utc_day(time.time()), tokens)
            else:
                self._spawn(self.limiter.charge(record.client, tokens))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            work.close()
            return
        if threading.get_ident() == self._thread:
            self._track(loop.create_task(work))
        else:
            loop.call_soon_threadsafe(lambda: self._track(loop.create_task(work)))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("usage could not be recorded: %s", task.exception())
