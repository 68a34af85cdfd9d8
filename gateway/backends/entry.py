"""One backend as the registry tracks it, how a config entry or a discovered server becomes one,
and how a probe's answer (or its failure) changes it. Mutated only on the gateway's event loop."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, replace

from gateway.backends.catalogue import BackendInfo, ModelInfo
from gateway.backends.connection import Connection, connection_for
from gateway.backends.discovery import server_root
from gateway.backends.probes import Found
from gateway.backends.protocol_choice import decide
from gateway.config import BackendConfig
from gateway.upstream.client import Upstream

__all__ = ["Entry", "configured_entry", "discovered_entry", "mark_down", "mark_up"]

log = logging.getLogger("lmgate.backends")


@dataclass
class Entry:
    id: str
    connection: Connection | None  # None: the config entry cannot be used (`info.error` says)
    info: BackendInfo
    config: BackendConfig | None = None  # None: discovered
    root: str | None = None  # where to ask a local server what it is; None: remote / preset
    models: tuple[ModelInfo, ...] = ()
    upstream: Upstream | None = None
    identified: str | None = None  # the kind found at `root` last time ("openai": none)

    @property
    def active(self) -> bool:
        return self.connection is not None and self.info.state != "disabled"


def configured_entry(backend: BackendConfig) -> Entry:
    problem: str | None = None
    try:
        connection: Connection | None = connection_for(backend)
    except ValueError as exc:
        connection, problem = None, str(exc)
    preset = connection.preset if connection else None
    url = connection.url if connection else (backend.url or "")
    remote = connection.remote if connection else False
    # A plain http server root (…/v1) may be a server we know; remote APIs are not asked.
    identifiable = connection is not None and preset is None and url.startswith("http://")
    root = server_root(url) if identifiable and url.endswith("/v1") else None
    state = "disabled" if not backend.enabled else ("down" if problem else "unknown")
    protocol: str = backend.protocol
    if protocol == "auto":
        protocol = preset.protocol if preset else "openai"
    ceiling = backend.max_output_tokens or (preset.max_output_tokens if preset else None)
    info = BackendInfo(
        id=backend.id,
        kind="openai" if backend.kind == "auto" else backend.kind,
        url=url,
        state=state,
        protocol=protocol,
        protocol_reason="set in the config" if backend.protocol != "auto" else None,
        error=problem,
        remote=remote,
        display_name=preset.display_name if preset else None,
        max_output_tokens=ceiling,
        can_stream=backend.can_stream and (preset.can_stream if preset else True),
        retries=backend.retries if backend.retries is not None else (2 if remote else 0),
        concurrency=backend.concurrency,
    )
    return Entry(backend.id, connection, info, backend, root)


def discovered_entry(root: str, kind: str, taken: Collection[str]) -> Entry:
    """A server found at `root`, named after its kind ("ollama", then "ollama-2"…)."""
    backend_id, n = kind, 1
    while backend_id in taken:
        n += 1
        backend_id = f"{kind}-{n}"
    url = f"{root}/v1"
    info = BackendInfo(id=backend_id, kind=kind, url=url, discovered=True)
    return Entry(backend_id, Connection(url), info, None, root)


def mark_up(entry: Entry, found: Found, started: float) -> None:
    if entry.root is not None and found.kind != "openai":
        entry.identified = found.kind
    if entry.connection is not None and entry.connection.preset is not None:
        protocol = entry.info.protocol
        reason = entry.info.protocol_reason or "the provider's preset"
    else:
        configured = entry.config.protocol if entry.config else "auto"
        decision = decide(found.kind, found.version, found.features, configured)
        protocol, reason = decision.protocol, decision.reason
    if entry.info.state != "up":
        log.info("backend %s is up with %d models", entry.id, len(found.models))
    entry.models = tuple(replace(m, backend_id=entry.id) for m in found.models)
    entry.info = replace(
        entry.info,
        kind=found.kind,
        state="up",
        version=found.version,
        protocol=protocol,
        protocol_reason=reason,
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
        error=found.note,
        checked_at=time.time(),
        slots=found.slots,
        features=tuple(sorted(found.features)),
    )


def mark_down(entry: Entry, message: str) -> None:
    """Down, not dropped: the models stay listed, their loaded state unknown."""
    if entry.info.state != "down":
        log.warning("backend %s is down: %s", entry.id, message)
    entry.models = tuple(replace(m, loaded=None) for m in entry.models)
    entry.info = replace(
        entry.info, state="down", latency_ms=None, error=message, checked_at=time.time()
    )
