"""The registry: every backend (configured and discovered), its HTTP client, the refresh loop and
the current catalogue snapshot. Readers (routing, `/v1/models`, `/health`, `doctor`, the GUI)
never call a backend; a refresh builds a new snapshot and swaps it in.

Refresh: every `health_interval` s while a window shows the catalogue (`set_fast_refresh`),
every `idle_interval` s otherwise, and at once after a connection error on the request path
(`probe_soon`). A backend that goes away is marked down, never dropped: its models stay listed,
their loaded state unknown.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping

import httpx

from gateway.backends.catalogue import BackendInfo, CatalogueSnapshot, ModelInfo
from gateway.backends.discovery import (
    Target,
    default_targets,
    identify,
    is_own_address,
    same_place,
    targets_from,
)
from gateway.backends.entry import Entry, configured_entry, discovered_entry, mark_down, mark_up
from gateway.backends.presets import LOCAL_KINDS
from gateway.backends.probes import Found, ProbeCache, Unreachable, probe_timeout
from gateway.config import BackendConfig, GatewayConfig
from gateway.errors import BackendUnavailable, GatewayError, NotFound
from gateway.events import Bus
from gateway.routing import ModelIndex
from gateway.upstream import tls
from gateway.upstream.client import Transport, Upstream
from gateway.upstream.errors import unreachable

__all__ = ["Registry", "SnapshotCallback"]

log = logging.getLogger("lmgate.backends")

SnapshotCallback = Callable[[CatalogueSnapshot], None]


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class Registry:
    def __init__(
        self,
        config: GatewayConfig,
        *,
        api_keys: Mapping[str, str] | None = None,
        transport: Transport = "aiohttp",
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """`api_keys`: backend id → key, for configured backends only (a discovered server never
        gets a credential). `environ` is read for OLLAMA_HOST (default: os.environ)."""
        self.config = config
        self._keys = dict(api_keys or {})
        self._transport: Transport = transport
        if config.discovery_targets is not None:
            targets = targets_from(config.discovery_targets)
        else:
            targets = default_targets(os.environ if environ is None else environ)
        self._targets = targets if config.discover else []
        self._configured = [configured_entry(b) for b in config.backends]
        self._discovered: dict[str, Entry] = {}  # server root → entry
        self._cache = ProbeCache()
        self._client: httpx.AsyncClient | None = None
        self._snapshots: Bus[CatalogueSnapshot] = Bus("catalogue", "lmgate.backends")
        self._fast = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._first: asyncio.Event | None = None
        self._refreshing: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None
        self._by_id: dict[str, Entry] = {}
        self._snapshot = CatalogueSnapshot()
        self._index = ModelIndex({})
        self._swap(time.time())

    # --- reads (any thread) -------------------------------------------------------------------

    def snapshot(self) -> CatalogueSnapshot:
        return self._snapshot

    def index(self) -> ModelIndex:
        return self._index

    def info(self, backend_id: str) -> BackendInfo:
        backend = self._snapshot.backend(backend_id)
        if backend is None:
            raise NotFound(self._unknown(backend_id))
        return backend

    def upstream(self, backend_id: str) -> Upstream:
        """The backend's client, created on first use (on the event loop that uses it)."""
        entry = self._by_id.get(backend_id)
        if entry is None:
            raise NotFound(self._unknown(backend_id))
        if entry.info.state == "disabled":
            raise BackendUnavailable(f"backend {backend_id} is disabled in the config")
        if entry.connection is None:
            raise BackendUnavailable(entry.info.error or f"backend {backend_id} is misconfigured")
        return self._upstream_for(entry)

    def _unknown(self, backend_id: str) -> str:
        known = ", ".join(self._by_id) or "none yet"
        return f"no backend '{backend_id}' is known (backends: {known})"

    # --- control (any thread) -----------------------------------------------------------------

    def probe_soon(self) -> None:
        """After a connection error on the request path: refresh now, not at the next tick."""
        self._poke()

    def set_fast_refresh(self, fast: bool) -> None:
        """Refresh often while a window shows the catalogue; a window opening refreshes now."""
        was, self._fast = self._fast, fast
        if fast and not was:
            self._poke()

    def subscribe(self, callback: SnapshotCallback) -> Callable[[], None]:
        """`callback(snapshot)` after every refresh, on the gateway's thread; keep it quick."""
        return self._snapshots.subscribe(callback)

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(wake.set)
        except RuntimeError:  # the loop closed in between
            pass

    # --- lifecycle (on the event loop) --------------------------------------------------------

    async def start(self, *, first_refresh_within: float = 3.0) -> None:
        """Start refreshing. Waits for the first refresh, up to `first_refresh_within` s, so that
        the first requests find the backends; a slower refresh goes on in the background."""
        self._loop = asyncio.get_running_loop()
        self._wake, self._first = asyncio.Event(), asyncio.Event()
        for entry in self._configured:
            if entry.active:
                self._upstream_for(entry)
        self._task = asyncio.create_task(self._run(), name="lmgate-backend-registry")
        try:
            await asyncio.wait_for(self._first.wait(), first_refresh_within)
        except TimeoutError:
            log.info("the first backend refresh is taking long; going on without waiting")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for entry in [*self._configured, *self._discovered.values()]:
            if entry.upstream is not None:
                await entry.upstream.aclose()
                entry.upstream = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        # A restarted server starts this registry again on a new event loop.
        self._loop, self._refreshing = None, None

    async def _run(self) -> None:
        assert self._wake is not None and self._first is not None
        while True:
            self._wake.clear()
            try:
                await self.refresh()
            except Exception:  # a refresh must never end the loop
                log.exception("the backend refresh failed")
            self._first.set()
            interval = self.config.health_interval if self._fast else self.config.idle_interval
            try:
                await asyncio.wait_for(self._wake.wait(), interval)
            except TimeoutError:
                pass

    async def refresh(self) -> CatalogueSnapshot:
        """One full pass over the configured backends and the discovery places."""
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        async with self._refreshing:
            if self._client is None:
                # Probes mostly go to local http:// servers: the verifying TLS context is only
                # loaded once a remote backend is probed (gateway/upstream/tls.py).
                https = tls.LazyTransport(
                    lambda: httpx.AsyncHTTPTransport(verify=tls.verified(), trust_env=False)
                )
                self._client = httpx.AsyncClient(
                    timeout=probe_timeout(),
                    trust_env=False,
                    headers={"user-agent": "lmgate"},
                    verify=tls.plain(),
                    mounts={"https://": https},
                )
            await asyncio.gather(
                *(self._refresh_configured(e) for e in self._configured if e.active),
                self._discover(),
            )
            snapshot = self._swap(time.time())
        self._snapshots.publish(snapshot)
        return snapshot

    def _swap(self, now: float) -> CatalogueSnapshot:
        entries = [*self._configured, *self._discovered.values()]
        snapshot = CatalogueSnapshot(
            backends=tuple(e.info for e in entries),
            models=tuple(m for e in entries for m in e.models),
            taken_at=now,
        )
        self._by_id = {e.id: e for e in entries}
        self._snapshot, self._index = snapshot, snapshot.index()
        return snapshot

    # --- configured backends ------------------------------------------------------------------

    async def _refresh_configured(self, entry: Entry) -> None:
        assert entry.config is not None and entry.connection is not None
        started = time.perf_counter()
        try:
            found = None
            if entry.root is not None and entry.identified != "openai":
                kind = entry.config.kind if entry.config.kind in LOCAL_KINDS else entry.identified
                found = await self._identify(entry.root, kind, self._auth_headers(entry))
            if found is None:
                found = await self._listed(entry)
        except (Unreachable, GatewayError) as exc:
            if isinstance(exc, Unreachable):
                mark_down(entry, unreachable(entry.info.url, exc.reason).message)
            else:
                mark_down(entry, exc.message)
            # Whatever answers there next may be another server: ask again what it is.
            entry.identified = None
            return
        mark_up(entry, found, started)

    async def _listed(self, entry: Entry) -> Found:
        """A backend that is no server we know: its OpenAI model list, with its key."""
        assert entry.connection is not None
        kind = entry.info.kind if entry.config and entry.config.kind != "auto" else "openai"
        entry.identified = "openai" if entry.root is not None else None
        preset = entry.connection.preset
        if preset is not None and not preset.lists_models:
            deployment = entry.connection.url.rstrip("/").rsplit("/", 1)[-1]
            return Found(kind, None, (ModelInfo(entry.id, deployment),))
        try:
            listed = await self._upstream_for(entry).list_models()
        except NotFound:
            note = "it does not list its models: name one with --big (or big = … in the config)"
            return Found(kind, None, (), note=note)
        models = tuple(
            ModelInfo(
                entry.id,
                m["id"],
                created=m["created"] if isinstance(m.get("created"), int) else None,
                context_window=_positive(m.get("max_model_len")),
            )
            for m in listed
        )
        return Found(kind, None, models)

    def _auth_headers(self, entry: Entry) -> dict[str, str]:
        assert entry.connection is not None
        headers = dict(entry.connection.headers)
        key = self._keys.get(entry.id)
        if key:
            headers[entry.connection.auth_header] = entry.connection.auth_value(key)
        return headers

    # --- discovery ----------------------------------------------------------------------------

    def _places(self) -> list[Target]:
        taken = [e.root or e.info.url for e in self._configured if e.connection is not None]
        places: list[Target] = []
        for target in self._targets:
            if self.config.port and is_own_address(target.root, self.config.host, self.config.port):
                continue
            if any(same_place(target.root, other) for other in [*taken, *(p.root for p in places)]):
                continue
            places.append(target)
        return places

    async def _discover(self) -> None:
        await asyncio.gather(*(self._probe_place(t) for t in self._places()))

    async def _probe_place(self, target: Target) -> None:
        entry = self._discovered.get(target.root)
        started = time.perf_counter()
        try:
            found = await self._identify(target.root, target.kind, {})
        except Unreachable as exc:
            if entry is not None:
                mark_down(entry, exc.message)
            return
        if found is None:
            if entry is not None:
                mark_down(entry, f"the server at {target.root} is no longer {entry.info.kind}")
            return
        if entry is None or entry.info.kind != found.kind:
            if entry is not None and entry.upstream is not None:
                await entry.upstream.aclose()
            taken = [e.id for e in [*self._configured, *self._discovered.values()]]
            entry = discovered_entry(target.root, found.kind, taken)
            self._discovered[target.root] = entry
            log.info("found %s at %s", found.kind, target.root)
        mark_up(entry, found, started)

    async def _identify(
        self, root: str, prefer: str | None, headers: dict[str, str]
    ) -> Found | None:
        assert self._client is not None
        return await identify(self._client, root, prefer=prefer, headers=headers, cache=self._cache)

    # --- state changes ------------------------------------------------------------------------

    def _upstream_for(self, entry: Entry) -> Upstream:
        if entry.upstream is None:
            connection = entry.connection
            assert connection is not None
            backend = entry.config or BackendConfig(id=entry.id, url=connection.url)
            entry.upstream = Upstream(
                backend,
                self.config.timeouts,
                api_key=self._keys.get(entry.id) if entry.config else None,
                transport=self._transport,
                base_url=connection.url,
                auth_header=connection.auth_header,
                auth_scheme=connection.auth_scheme,
                headers=connection.headers,
                params=connection.params,
                remote=connection.remote,
            )
        return entry.upstream
