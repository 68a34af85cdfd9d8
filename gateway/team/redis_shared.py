"""What replicas share through Redis (or Valkey), so that any of them can serve any request:
message threads, the limits' counters and usage. `redis` is imported here only, and this module
only when a URL is configured.

Keys, all under `lmgate:`: `thread:<msg id>` (a conversation, 5 minutes sliding),
`rpm:<client>:<minute>` (2 minutes), `tokens:<client>:<UTC day>` (2 days), and
`usage:<UTC hour>`, a hash of `<client> <model> <figure>` → count (400 days).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis.asyncio
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.errors import GatewayError
from gateway.events import RequestRecord
from gateway.threads import TTL_SECONDS, StoredThread
from gateway.usage_store import UsageLine

__all__ = [
    "RedisCounters",
    "RedisError",
    "RedisLedger",
    "RedisThreadStore",
    "connect",
    "unreachable",
]

PREFIX = "lmgate:"
_SEP = "\x1f"  # never in a client name or a model name as the record keeps it
_FIGURES = ("requests", "errors", "input_tokens", "output_tokens")
_USAGE_TTL = 400 * 86_400
_HOUR = 3600


def unreachable(exc: RedisError) -> GatewayError:
    return GatewayError(f"the gateway's shared store (Redis) cannot be used: {type(exc).__name__}")


def connect(url: str) -> Redis:
    client: Redis = redis.asyncio.Redis.from_url(
        url, socket_connect_timeout=5, socket_timeout=10, health_check_interval=30
    )
    return client


class RedisThreadStore:
    """The `ThreadStore` every replica reads: a `continue` may reach another replica than the
    turn before it."""

    def __init__(
        self, redis: Redis, *, ttl: float = TTL_SECONDS, max_bytes: int = 64 * 1024 * 1024
    ) -> None:
        self.redis = redis
        self.ttl = int(ttl)
        self.max_bytes = max_bytes

    async def get(self, message_id: str) -> StoredThread | None:
        # GETEX: reading is a use, the thread's 5 minutes start again (as in this process).
        try:
            data = await self.redis.getex(PREFIX + "thread:" + message_id, ex=self.ttl)
        except RedisError as exc:
            raise unreachable(exc) from None
        if data is None:
            return None
        return StoredThread(orjson.loads(data), len(data))

    async def put(self, message_id: str, thread: StoredThread) -> None:
        if thread.size > self.max_bytes:
            return  # a continue of it gets the 404 and replays, as with the in-process store
        await self.redis.set(
            PREFIX + "thread:" + message_id, orjson.dumps(thread.fields), ex=self.ttl
        )

    async def discard(self, message_id: str) -> None:
        await self.redis.delete(PREFIX + "thread:" + message_id)


class RedisCounters:
    """The limits' windows, counted once for all replicas."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def hit(self, client: str, minute: int) -> int:
        key = f"{PREFIX}rpm:{client}:{minute}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            count, _ = await pipe.execute()
        return int(count)

    async def spent(self, client: str, day: str) -> int:
        value = await self.redis.get(f"{PREFIX}tokens:{client}:{day}")
        return int(value) if value is not None else 0

    async def spend(self, client: str, day: str, tokens: int) -> None:
        key = f"{PREFIX}tokens:{client}:{day}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.incrby(key, tokens)
            pipe.expire(key, 2 * 86_400)
            await pipe.execute()


def _hour(at: float) -> str:
    return time.strftime("%Y%m%d%H", time.gmtime(at))


class RedisLedger:
    """Usage per client key and model, per UTC hour, summed by every replica."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def add(self, record: RequestRecord) -> None:
        if record.path != "/v1/messages":
            return
        model = record.served_by
        key = f"{PREFIX}usage:{_hour(record.started_at)}"
        base = f"{record.client or ''}{_SEP}{model}{_SEP}"
        values = (
            1,
            int(record.status >= 400 or record.status == 0),
            record.input_tokens or 0,
            record.output_tokens or 0,
        )
        async with self.redis.pipeline(transaction=False) as pipe:
            for figure, value in zip(_FIGURES, values, strict=True):
                if value:
                    pipe.hincrby(key, base + figure, value)
            pipe.expire(key, _USAGE_TTL)
            await pipe.execute()

    async def usage_by(self, since: float, by: str) -> list[UsageLine]:
        """As `UsageStore.usage_by`, to the hour: `since` counts from the start of its hour."""
        hours = [
            _hour(at) for at in range(int(since // _HOUR * _HOUR), int(time.time()) + 1, _HOUR)
        ]
        async with self.redis.pipeline(transaction=False) as pipe:
            for hour in hours:
                pipe.hgetall(f"{PREFIX}usage:{hour}")
            tables: list[dict[Any, Any]] = await pipe.execute()
        sums: dict[tuple[str | None, str | None], list[int]] = {}
        for table in tables:
            for field, value in table.items():
                client, model, figure = field.decode().split(_SEP)
                group = (
                    (client or None) if by in ("client", "both") else None,
                    model if by in ("model", "both") else None,
                )
                counts = sums.setdefault(group, [0, 0, 0, 0])
                counts[_FIGURES.index(figure)] += int(value)
        lines = [UsageLine(client, model, *counts) for (client, model), counts in sums.items()]
        return sorted(
            lines,
            key=lambda u: (-(u.input_tokens + u.output_tokens), u.client or "", u.model or ""),
        )
