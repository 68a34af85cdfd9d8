"""Which protocol a request speaks, per backend and per request: the one place it is decided.

Per backend: what gateway/backends/protocols.py's table decided for the server's kind and version
(or the config's `protocol`), carried as `BackendInfo.protocol`. Per request: an Ollama backend
whose loaded context is too small for the request goes through Ollama's /api/chat, because its
OpenAI and Anthropic endpoints ignore num_ctx and silently truncate the prompt.
"""

from __future__ import annotations

from gateway.backends.catalogue import BackendInfo, ModelInfo
from gateway.upstream.anthropic_messages import AnthropicMessages
from gateway.upstream.ollama_chat import OllamaChat
from gateway.upstream.openai_chat import OpenAIChat
from gateway.upstream.protocol import UpstreamProtocol

__all__ = ["ProtocolChoice"]


class ProtocolChoice:
    """A gateway's three protocol objects, shared by its requests, and the rule that picks one."""

    def __init__(self) -> None:
        self.openai = OpenAIChat()
        self.ollama = OllamaChat()
        self.anthropic = AnthropicMessages()
        self._by_name: dict[str, UpstreamProtocol] = {
            p.name: p for p in (self.openai, self.ollama, self.anthropic)
        }

    def by_name(self, name: str) -> UpstreamProtocol:
        """The protocol a backend was decided to speak (`BackendInfo.protocol`)."""
        return self._by_name[name]

    def choose(
        self, info: BackendInfo | None, model: ModelInfo | None, needed: int
    ) -> tuple[UpstreamProtocol, str | None]:
        """The protocol for one request needing `needed` tokens of context (prompt + max_tokens;
        0 when not counted), and why, when it is not the backend's own."""
        if info is None:
            # Not in the catalogue (yet): chat completions, which every server speaks; the same
            # answer as the table's for a server it knows nothing about.
            return self.openai, None
        loaded = model.context_window if model else None
        if info.kind == "ollama" and loaded and needed > loaded:
            return (
                self.ollama,
                f"sent through Ollama's /api/chat: it needs a {needed}-token context",
            )
        return self._by_name[info.protocol], None
