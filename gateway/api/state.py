"""What the routes share: the config, the upstream clients, the monitor and the bus."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.backends.monitor import BackendMonitor
from gateway.config import GatewayConfig
from gateway.events import EventBus
from gateway.translate.request import BackendTraits
from gateway.upstream.client import Upstream

__all__ = ["GatewayState"]


@dataclass
class GatewayState:
    config: GatewayConfig
    bus: EventBus
    token: Callable[[], str | None]
    upstreams: dict[str, Upstream] = field(default_factory=dict)
    traits: dict[str, BackendTraits] = field(default_factory=dict)
    monitor: BackendMonitor | None = None
    started_at: float = 0.0
