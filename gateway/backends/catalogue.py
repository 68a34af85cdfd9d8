"""The one cached catalogue of backends and their models, read by routing, `/v1/models`,
`/health`, `doctor` and the GUI. Snapshots are immutable: readers on any thread get a consistent
view without locks; the refresher swaps in a new snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.routing import ModelIndex

__all__ = ["BackendInfo", "CatalogueSnapshot", "ModelInfo"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    backend_id: str
    name: str  # the backend's own model id, as requests must name it
    loaded: bool | None = None  # None: the backend does not say
    context_window: int | None = None  # the context the loaded model really has
    max_context: int | None = None  # the model's theoretical maximum, listed beside it
    tools: bool | None = None
    vision: bool | None = None
    thinking: bool | None = None
    kind: str = "llm"  # "llm" | "embedding" | "vlm" …: embeddings are never routed to
    size_bytes: int | None = None
    created: int | None = None  # epoch seconds, where the backend says

    @property
    def routable(self) -> bool:
        return self.kind != "embedding"


@dataclass(frozen=True, slots=True)
class BackendInfo:
    id: str
    kind: (
        str  # "lmstudio" | "ollama" | "llamacpp" | "vllm" | "sglang" | "jan" | "openai" | preset id
    )
    url: str  # the OpenAI-compatible base (…/v1)
    state: str = "unknown"  # "up" | "down" | "unknown" | "disabled"
    version: str | None = None
    protocol: str = "openai"  # what the gateway speaks to it: "openai" | "anthropic" | "ollama"
    latency_ms: float | None = None
    error: str | None = None
    checked_at: float | None = None  # epoch seconds
    discovered: bool = False  # found by probing, not configured by the user
    remote: bool = False
    slots: int | None = None  # parallel requests it serves (llama.cpp total_slots)
    display_name: str | None = None
    protocol_reason: str | None = None  # why `protocol` (gateway.backends.protocol_choice)
    features: tuple[str, ...] = ()  # what the probe saw, e.g. "rest-v1", "messages"
    # For the request path, from the config and the preset:
    max_output_tokens: int | None = None  # the provider's output ceiling
    can_stream: bool = True
    retries: int = 0
    concurrency: int | None = None


@dataclass(frozen=True, slots=True)
class CatalogueSnapshot:
    backends: tuple[BackendInfo, ...] = ()
    models: tuple[ModelInfo, ...] = ()
    taken_at: float = 0.0
    _by_key: dict[tuple[str, str], ModelInfo] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self._by_key.update({(m.backend_id, m.name): m for m in self.models})

    def backend(self, backend_id: str) -> BackendInfo | None:
        return next((b for b in self.backends if b.id == backend_id), None)

    def model(self, backend_id: str, name: str) -> ModelInfo | None:
        return self._by_key.get((backend_id, name))

    def models_of(self, backend_id: str) -> list[ModelInfo]:
        return [m for m in self.models if m.backend_id == backend_id]

    def routable(self) -> list[ModelInfo]:
        """What requests may name: no embedding models, nothing of a disabled backend."""
        live = {b.id for b in self.backends if b.state != "disabled"}
        return [m for m in self.models if m.routable and m.backend_id in live]

    def index(self) -> ModelIndex:
        """Routable (non-embedding) models per backend, loaded ones first."""
        table: dict[str, list[str]] = {b.id: [] for b in self.backends}
        ordered = sorted(self.models, key=lambda m: (m.loaded is False, m.loaded is None))
        for m in ordered:
            if m.routable and m.backend_id in table:
                table[m.backend_id].append(m.name)
        return ModelIndex({k: tuple(v) for k, v in table.items()})
