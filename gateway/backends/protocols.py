"""Which protocol the gateway speaks to a local server: a decision table per server kind and
version (and what the server was seen to serve). The user's `protocol` setting overrides it.

  openai     translate Anthropic Messages ↔ OpenAI chat completions (every server has it)
  anthropic  pass the Messages API through to the server's own /v1/messages
  ollama     Ollama's native /api/chat (it takes num_ctx, which Ollama's OpenAI path ignores)

Which protocol object one request then uses: gateway/backends/protocol_choice.py.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["TABLE", "Decision", "Rule", "decide", "parse_version"]


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    protocol: str
    reason: str
    min_version: tuple[int, ...] | None = None  # the rule holds from this version on
    feature: str | None = None  # …or when the probe saw this feature


@dataclass(frozen=True, slots=True)
class Decision:
    protocol: str
    reason: str


# First matching row wins.
TABLE: tuple[Rule, ...] = (
    Rule(
        "ollama",
        "anthropic",
        "Ollama 0.32.2+ serves /v1/messages with distinct block indexes (ollama#17225)",
        min_version=(0, 32, 2),
    ),
    Rule(
        "ollama",
        "ollama",
        "Ollama before 0.32.2 can reuse a block index in /v1/messages streams (ollama#17101); "
        "its native /api/chat takes tools and num_ctx",
        min_version=(0, 3, 0),
    ),
    Rule("lmstudio", "anthropic", "LM Studio 0.4.1+ serves /v1/messages", min_version=(0, 4, 1)),
    Rule(
        "lmstudio",
        "anthropic",
        "LM Studio serves the v1 REST API (0.4 series, /v1/messages since 0.4.1); it reports no "
        "version of its own",
        feature="rest-v1",
    ),
    Rule(
        "llamacpp",
        "anthropic",
        "llama-server answers /v1/messages/count_tokens, so it has the Messages API "
        "(llama.cpp#17570)",
        feature="messages",
    ),
)

_VERSION = re.compile(r"v?(\d+(?:\.\d+)*)")


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """`0.12.6` → (0, 12, 6); `v0.32.2-rc1` → (0, 32, 2); a build tag such as `b6800` → None."""
    if not text:
        return None
    match = _VERSION.match(text.strip())
    if match is None or "." not in match.group(1):
        return None
    return tuple(int(part) for part in match.group(1).split("."))


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
    return Decision("openai", f"no native Messages API is known for {what}")
