"""Background probes of every configured backend; the cache that `/health`, `/v1/models` and
routing read. Probes never run on the request path."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.errors import GatewayError
from gateway.routing import ModelIndex
from gateway.upstream.client import Upstream

__all__ = ["BackendMonitor", "BackendStatus"]

log = logging.getLogger("lmgate.backends")


@dataclass(frozen=True, slots=True)
class BackendStatus:
    id: str
    url: str
    state: str = "unknown"  # "up" | "down" | "unknown"
    latency_ms: float | None = None
    models: tuple[str, ...] = ()
    created: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None
    checked_at: float | None = None  # epoch seconds


class BackendMonitor:
    def __init__(self, upstreams: Mapping[str, Upstream], interval: float) -> None:
        self._upstreams = upstreams
        self._interval = interval
        self._status: dict[str, BackendStatus] = {
            bid: BackendStatus(bid, up.base_url) for bid, up in upstreams.items()
        }
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def statuses(self) -> list[BackendStatus]:
        return list(self._status.values())

    def index(self) -> ModelIndex:
        return ModelIndex({bid: s.models for bid, s in self._status.items()})

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lmgate-backend-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def probe_soon(self) -> None:
        """After a connection error on the request path: re-probe now, not at the next tick."""
        self._wake.set()

    async def probe_all(self) -> None:
        await asyncio.gather(*(self._probe(bid, up) for bid, up in self._upstreams.items()))

    async def _run(self) -> None:
        while True:
            await self.probe_all()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval)
            except TimeoutError:
                pass

    async def _probe(self, backend_id: str, upstream: Upstream) -> None:
        started = time.perf_counter()
        previous = self._status[backend_id]
        try:
            listed = await upstream.list_models()
        except GatewayError as exc:
            # A backend that goes away is marked down; its models stay listed for the GUI.
            self._status[backend_id] = BackendStatus(
                backend_id,
                upstream.base_url,
                "down",
                None,
                previous.models,
                previous.created,
                exc.message,
                time.time(),
            )
            if previous.state != "down":
                log.warning("backend %s is down: %s", backend_id, exc.message)
            return
        except Exception as exc:  # a probe must never kill the monitor
            log.exception("probe of backend %s failed", backend_id)
            self._status[backend_id] = BackendStatus(
                backend_id, upstream.base_url, "down", error=str(exc), checked_at=time.time()
            )
            return
        names = tuple(m["id"] for m in listed)
        created = {m["id"]: m["created"] for m in listed if isinstance(m.get("created"), int)}
        self._status[backend_id] = BackendStatus(
            backend_id,
            upstream.base_url,
            "up",
            round((time.perf_counter() - started) * 1000, 1),
            names,
            created,
            None,
            time.time(),
        )
        if previous.state != "up":
            log.info("backend %s is up with %d models", backend_id, len(names))
