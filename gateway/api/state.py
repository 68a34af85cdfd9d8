"""What the routes share: the config, the backend registry and the bus."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.backends.catalogue import BackendInfo
from gateway.backends.protocol_choice import ProtocolChoice
from gateway.backends.registry import Registry
from gateway.config import GatewayConfig
from gateway.context import PromptCounter
from gateway.events import EventBus
from gateway.pdf_texts import PdfTexts
from gateway.prefixes import PrefixWatch
from gateway.queueing import BackendQueue
from gateway.router import MemoryRouter, Router
from gateway.team.gate import Team
from gateway.threads import MemoryThreadStore, ThreadStore

__all__ = ["GatewayState"]


@dataclass
class GatewayState:
    config: GatewayConfig
    bus: EventBus
    token: Callable[[], str | None]
    # The backends, their clients and the catalogue; set by the lifespan.
    registry: Registry | None = None
    started_at: float = 0.0
    # The text of the PDFs read so far, for the counter and the translation alike.
    pdf_texts: PdfTexts = field(default_factory=PdfTexts)
    counter: PromptCounter = field(default_factory=PromptCounter)
    queues: dict[str, BackendQueue] = field(default_factory=dict)
    # The protocol objects and the rule that picks one per request; what they remember of the
    # backends lives in them.
    protocols: ProtocolChoice = field(default_factory=ProtocolChoice)
    # Message threads the gateway emulates (in this process; a shared store fits the Protocol).
    threads: ThreadStore = field(default_factory=MemoryThreadStore)
    # Each conversation's last prompt, to say when the next one is not its continuation.
    prefixes: PrefixWatch = field(default_factory=PrefixWatch)
    # Which backend first, and what each try teaches (in-flight counts, breakers); in this
    # process by default (None → a MemoryRouter from the config's breaker settings).
    router: Router = None  # type: ignore[assignment]
    # Client keys, limits, usage and metrics (team mode).
    team: Team | None = None

    def __post_init__(self) -> None:
        if self.counter.pdf is None:
            self.counter.pdf = self.pdf_texts
        if self.router is None:
            self.router = MemoryRouter(self.config.routes.breaker)

    def queue_for(self, backend_id: str, info: BackendInfo | None) -> BackendQueue | None:
        """The backend's queue, sized from its slots: what the config says, else what the server
        reports (llama.cpp's total_slots), else one for the servers that run one request at a time
        by default (LM Studio, Ollama, llama.cpp). Others (vLLM, SGLang, remote providers, an
        unknown server) batch requests themselves: no queue (None)."""
        slots = (info.concurrency or info.slots) if info else None
        if not slots and info is not None and info.kind in _ONE_AT_A_TIME:
            slots = 1
        if not slots:
            return None
        queue = self.queues.get(backend_id)
        if queue is None:
            name = (info.display_name or info.id) if info else backend_id
            queue = BackendQueue(slots, self.config.queue_depth, name=name)
            self.queues[backend_id] = queue
        else:
            queue.slots = slots
        return queue


_ONE_AT_A_TIME = frozenset({"lmstudio", "ollama", "llamacpp"})
