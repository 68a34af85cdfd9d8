"""The context (`num_ctx`) the gateway asks of each Ollama model: chosen once, so that no session
makes Ollama reload the model.

Ollama reloads a loaded model when a request's runner options differ from those it was loaded
with (ollama server/sched.go `needsReload`: num_ctx, num_batch, num_gpu, use_mmap, num_thread…).
A request without num_ctx (every request to its OpenAI and Anthropic endpoints) stands for
Ollama's automatic choice, so it reloads a model loaded with another num_ctx; a request that
states the loaded num_ctx never reloads. The gateway sets no runner option but num_ctx, and:
- a model loaded with enough context, for which the gateway has chosen none, is left as it is
  (the backend's usual protocol; /api/chat states the loaded number);
- otherwise the context is chosen once per model: `load_context` for "backend:model" in the
  config (what the app loads it with), else the model's trained maximum up to 128k (a session
  grows into it with no second reload; past 128k the KV cache of a 256k model costs more memory
  than most machines have), else, when Ollama does not say, the power of two that holds the
  request; a request that outgrows the choice (and the model can hold) grows it once. Every
  later request to the model, side requests included, states that number through /api/chat,
  whatever its own size.
"""

from __future__ import annotations

import threading

from gateway.backends.catalogue import ModelInfo

__all__ = ["OllamaContexts"]

_SMALLEST = 2048
# The most context chosen without the user's word: Claude Code's prompt (~50k) and its largest
# max_tokens (64k) fit, and a 256k model's KV cache is halved.
DEFAULT_CAP = 131072


class OllamaContexts:
    """The num_ctx chosen per (backend, model) in this gateway process."""

    def __init__(self) -> None:
        self._chosen: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()  # requests are planned on worker threads too

    def window(self, backend_id: str, model: ModelInfo, configured: int | None) -> int | None:
        """The most context a request to `model` may fill: what was or will be chosen."""
        with self._lock:
            chosen = _bounded(configured, model.max_context) or self._chosen.get(
                (backend_id, model.name)
            )
        return chosen or model.max_context or model.context_window

    def choose(
        self, backend_id: str, model: ModelInfo, needed: int, configured: int | None
    ) -> int | None:
        """The num_ctx for a request needing `needed` tokens (prompt + max_tokens); None to
        leave the loaded model as it is."""
        key = (backend_id, model.name)
        fixed = _bounded(configured, model.max_context)
        with self._lock:
            if fixed:
                self._chosen[key] = fixed
                return fixed
            chosen = self._chosen.get(key)
            if chosen is not None:
                if needed > chosen and (not model.max_context or chosen < model.max_context):
                    chosen = self._chosen[key] = _grown(needed, model.max_context)
                return chosen
            loaded = model.context_window
            if loaded and needed <= loaded:
                return None
            if model.loaded is None and not (loaded or model.max_context):
                return None  # the catalogue knows nothing of it: nothing to keep stable
            default = min(model.max_context, DEFAULT_CAP) if model.max_context else 0
            chosen = self._chosen[key] = max(default, _grown(needed, model.max_context))
            return chosen

    def chosen(self, backend_id: str, model: str) -> int | None:
        with self._lock:
            return self._chosen.get((backend_id, model))


def _bounded(configured: int | None, maximum: int | None) -> int | None:
    if not configured:
        return None
    return min(configured, maximum) if maximum else configured


def _grown(needed: int, maximum: int | None) -> int:
    """The power of two that holds `needed`, no more than the model's maximum."""
    size = _power_of_two(needed)
    return min(size, maximum) if maximum else size


def _power_of_two(needed: int) -> int:
    size = _SMALLEST
    while size < needed:
        size *= 2
    return size
