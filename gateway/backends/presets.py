"""Remote providers as data: base URL, auth header, protocol and quirks; the server kinds a
backend may name; what a base URL looks like. Remote backends are never discovered.

Sources (each provider's own docs): OpenAI platform.openai.com/docs/api-reference; OpenRouter
openrouter.ai/docs (Bearer; optional X-Title / HTTP-Referer attribution); Groq
console.groq.com/docs/openai; Gemini ai.google.dev/gemini-api/docs/openai; DeepSeek
api-docs.deepseek.com (thinking_mode: reasoning_content goes back on tool-call turns);
Moonshot platform.moonshot.ai (Anthropic-compatible base …/anthropic, ANTHROPIC_AUTH_TOKEN);
Mistral docs.mistral.ai; Azure OpenAI learn.microsoft.com/azure/ai-services/openai/reference
(deployment URL, `api-key` header, `api-version` query).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "KINDS",
    "LOCAL_KINDS",
    "LOCAL_PORTS",
    "PRESETS",
    "Preset",
    "is_local_url",
    "normalise_base_url",
]

# Servers found on this machine (or the LAN) by discovery, at their documented default ports; a
# backend may name one as its kind (and then needs no url when it runs at its default place).
LOCAL_PORTS = {
    "lmstudio": 1234,
    "ollama": 11434,
    "llamacpp": 8080,
    "vllm": 8000,
    "sglang": 30000,
    "jan": 1337,
}
LOCAL_KINDS = tuple(LOCAL_PORTS)


@dataclass(frozen=True, slots=True)
class Preset:
    id: str
    display_name: str
    base_url: str | None  # None: the user gives it (custom, Azure's deployment URL)
    auth_header: str = "authorization"
    auth_scheme: str | None = "Bearer"  # None: the key is the header's whole value
    protocol: str = "openai"
    max_output_tokens: int | None = None
    can_stream: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    api_version: str | None = None  # sent as the `api-version` query (Azure)
    url_hint: str = ""  # what `url` looks like, for the error when it is missing
    # Model ids (regex, from the start) that take max_completion_tokens instead of max_tokens.
    max_completion_tokens_models: str | None = None
    clean_json_schema: bool = False  # refuses some JSON-Schema keywords in tool parameters
    reasoning_roundtrip: bool = False  # wants reasoning_content sent back on tool-call turns
    lists_models: bool = True  # GET {base}/models answers

    def uses_max_completion_tokens(self, model: str) -> bool:
        pattern = self.max_completion_tokens_models
        return pattern is not None and re.match(pattern, model) is not None


PRESETS: dict[str, Preset] = {
    p.id: p
    for p in (
        Preset(
            "openai",
            "OpenAI",
            "https://api.openai.com/v1",
            max_completion_tokens_models=r"(o1|o3|o4|gpt-5)",
        ),
        Preset(
            "openrouter",
            "OpenRouter",
            "https://openrouter.ai/api/v1",
            headers={"X-Title": "LM Gate"},
        ),
        Preset("groq", "Groq", "https://api.groq.com/openai/v1"),
        Preset(
            "gemini",
            "Google Gemini (OpenAI-compatible)",
            "https://generativelanguage.googleapis.com/v1beta/openai",
            clean_json_schema=True,
        ),
        Preset(
            "deepseek",
            "DeepSeek",
            "https://api.deepseek.com/v1",
            max_output_tokens=8192,
            reasoning_roundtrip=True,
        ),
        Preset(
            "moonshot",
            "Moonshot Kimi (Anthropic-compatible)",
            "https://api.moonshot.ai/anthropic/v1",
            protocol="anthropic",
        ),
        Preset(
            "anthropic-compatible",
            "Another Anthropic-compatible endpoint",
            None,
            auth_header="x-api-key",
            auth_scheme=None,
            protocol="anthropic",
            url_hint="the endpoint's base URL, e.g. https://api.example.com/anthropic",
        ),
        Preset("mistral", "Mistral", "https://api.mistral.ai/v1"),
        Preset(
            "azure",
            "Azure OpenAI",
            None,
            auth_header="api-key",
            auth_scheme=None,
            api_version="2024-10-21",
            url_hint="https://RESOURCE.openai.azure.com/openai/deployments/DEPLOYMENT",
            lists_models=False,
        ),
        Preset(
            "custom",
            "Custom OpenAI-compatible provider",
            None,
            url_hint="the provider's OpenAI base URL, e.g. https://api.example.com/v1",
        ),
    )
}

KINDS = ("auto", *LOCAL_KINDS, *PRESETS)


def normalise_base_url(url: str) -> str:
    """`http://host:1234` → `http://host:1234/v1`; a URL with a path is kept (Gemini's ends in
    `/v1beta/openai`, Azure's in a deployment)."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path:
        path = "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def is_local_url(url: str) -> bool:
    """Loopback, a private (LAN) address, or a bare host name: a server the user runs."""
    host = (urlsplit(url if "://" in url else f"http://{url}").hostname or "").lower()
    if host == "localhost" or host.endswith((".local", ".lan", ".home.arpa")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host
    return address.is_loopback or address.is_private or address.is_link_local
