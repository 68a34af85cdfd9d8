"""What the routes share: the config, the backend registry and the bus."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.backends.catalogue import BackendInfo
from gateway.backends.registry import Registry
from gateway.config import GatewayConfig
from gateway.context import PromptCounter
from gateway.events import EventBus
from gateway.queueing import BackendQueue

__all__ = ["GatewayState"]


@dataclass
class GatewayState:
    config: GatewayConfig
    bus: EventBus
    token: Callable[[], str | None]
    # The backends, their clients and the catalogue; set by the lifespan.
    registry: Registry | None = None
    started_at: float = 0.0
    counter: PromptCounter = field(default_factory=PromptCounter)
    queues: dict[str, BackendQueue] = field(default_factory=dict)
    # Backends that refused `stream_options` once: not sent to them again.
    no_stream_options: set[str] = field(default_factory=set)

    def queue_for(self, backend_id: str, info: BackendInfo | None) -> BackendQueue:
        """The backend's queue, sized from its slots: what the config says, else llama.cpp's
        total_slots, else one for LM Studio and Ollama (they run one request at a time by
        default), four for other local servers, sixteen for remote providers."""
        slots = info.concurrency or info.slots if info else None
        if not slots:
            kind = info.kind if info else "openai"
            slots = 1 if kind in ("lmstudio", "ollama") else (16 if info and info.remote else 4)
        queue = self.queues.get(backend_id)
        if queue is None:
            name = (info.display_name or info.id) if info else backend_id
            queue = self.queues[backend_id] = BackendQueue(
                slots, self.config.queue_depth, name=name
            )
        else:
            queue.slots = slots
        return queue
