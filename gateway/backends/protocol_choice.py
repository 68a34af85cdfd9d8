"""Which protocol the gateway speaks, per backend and per request: the one place it is decided.

Per backend (`decide`, when a probe identifies the server): the config's `protocol`, else the
first row of gateway/backends/protocols.py's table that matches the server's kind and version,
else OpenAI chat completions; carried as `BackendInfo.protocol`. Per request
(`ProtocolChoice.choose`): that protocol's object, except that an Ollama model for which the
gateway sets a context (one loaded too small for the request, or not loaded: chosen once,
gateway/backends/ollama_context.py) goes through Ollama's /api/chat, because its OpenAI and
Anthropic endpoints ignore num_ctx and silently truncate the prompt, and every request to it
keeps going there, since one without num_ctx would reload the model.

  openai     translate Anthropic Messages ↔ OpenAI chat completions (every server has it)
  anthropic  pass the Messages API through to the server's own /v1/messages
  ollama     Ollama's native /api/chat (it takes num_ctx, which Ollama's OpenAI path ignores)
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import NamedTuple

from gateway.backends.catalogue import BackendInfo, ModelInfo
from gateway.backends.ollama_context import OllamaContexts
from gateway.backends.protocols import TABLE, parse_version
from gateway.upstream.anthropic_messages import AnthropicMessages
from gateway.upstream.ollama_chat import OllamaChat
from gateway.upstream.openai_chat import OpenAIChat
from gateway.upstream.protocol import UpstreamProtocol

__all__ = ["Choice", "Decision", "ProtocolChoice", "decide"]


@dataclass(frozen=True, slots=True)
class Decision:
    protocol: str
    reason: str


def decide(
    kind: str, version: str | None, features: Collection[str] = (), configured: str = "auto"
) -> Decision:
    if configured != "auto":
        return Decision(configured, "set in the config")
    parsed = parse_version(version)
    for rule in TABLE:
        if rule.kind != kind:
            continue
        if rule.min_version is not None and parsed is not None and parsed >= rule.min_version:
            return Decision(rule.protocol, rule.reason)
        if rule.feature is not None and rule.feature in features:
            return Decision(rule.protocol, rule.reason)
    what = f"{kind} {version}" if version else kind
    return Decision(OpenAIChat.name, f"no native Messages API is known for {what}")


class Choice(NamedTuple):
    protocol: UpstreamProtocol
    why: str | None  # when it is not the backend's own protocol
    num_ctx: int | None = None  # Ollama: the context to state (/api/chat)


class ProtocolChoice:
    """A gateway's three protocol objects, shared by its requests, and the rule that picks one."""

    def __init__(self) -> None:
        self.openai = OpenAIChat()
        self.ollama = OllamaChat()
        self.anthropic = AnthropicMessages()
        self._by_name: dict[str, UpstreamProtocol] = {
            p.name: p for p in (self.openai, self.ollama, self.anthropic)
        }
        # The num_ctx chosen for each Ollama model, kept for every request to it.
        self.contexts = OllamaContexts()

    def by_name(self, name: str) -> UpstreamProtocol:
        """The protocol a backend was decided to speak (`BackendInfo.protocol`)."""
        return self._by_name[name]

    def choose(
        self,
        info: BackendInfo | None,
        model: ModelInfo | None,
        needed: int,
        configured: int | None = None,
    ) -> Choice:
        """The protocol for one request needing `needed` tokens of context (prompt + max_tokens;
        0 when not counted), and why, when it is not the backend's own; `configured`: the
        config's `load_context` for this model."""
        if info is None:
            # Not in the catalogue (yet): chat completions, which every server speaks; the same
            # answer as the table's for a server it knows nothing about.
            return Choice(self.openai, None)
        own = self._by_name[info.protocol]
        if info.kind != "ollama" or model is None:
            return Choice(own, None)
        num_ctx = self.contexts.choose(info.id, model, needed, configured)
        if num_ctx is None:
            return Choice(own, None, model.context_window if own is self.ollama else None)
        why = None
        if own is not self.ollama:
            why = (
                f"sent through Ollama's /api/chat with num_ctx {num_ctx}, as every request to "
                "this model: another context (or none) reloads it"
            )
        return Choice(self.ollama, why, num_ctx)
