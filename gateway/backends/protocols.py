"""The table of which protocol each local server speaks, per server kind and version (and what
the server was seen to serve); gateway/backends/protocol_choice.py decides from it and says what
each protocol is."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TABLE", "Rule", "parse_version"]


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    protocol: str
    reason: str
    min_version: tuple[int, ...] | None = None  # the rule holds from this version on
    feature: str | None = None  # …or when the probe saw this feature


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
