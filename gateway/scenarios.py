"""Which scenario route a request takes, and why. Pure: the request, its headers and the config in.

Only a request that reached a role (a Claude model name: big, small, opus) is rerouted; one that
names a backend model itself gets that model. The routes are tried in this order, first match
wins (each is optional, gateway/config.py `RoutesConfig`):
  long_context  the prompt counts more than `threshold` tokens
  images        an image block anywhere in the conversation (a tool result's screenshot too)
  thinking      `thinking.type` "enabled", or thinking on with an effort of at least
                `min_effort` (the API's default effort is "high")
  subagent      Claude Code's subagents: the `x-claude-code-agent-id` header, which Claude Code
                sends for an Agent-tool subagent's requests and never for the main loop's
  background    haiku-class side requests (titles, summaries, quota probes): the small role, or
                a structured-output request (`output_config.format`, Claude Code's titles)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.config import EFFORTS, RoutesConfig
from gateway.routing import Route
from gateway.schemas.anthropic import MessagesRequest

__all__ = ["AGENT_HEADER", "Scenario", "count_images", "match"]

AGENT_HEADER = "x-claude-code-agent-id"
_DEFAULT_EFFORT = "high"


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    reason: str
    targets: tuple[str, ...]
    threshold: int | None = None  # long_context: the prompt's size it was chosen for


def match(
    req: MessagesRequest,
    headers: Mapping[str, str],
    route: Route,
    routes: RoutesConfig,
    prompt_tokens: Callable[[], int],
) -> Scenario | None:
    """The first configured route the request matches; None: the role's own model.
    `prompt_tokens` is called only when a long-context route is set."""
    if route.role is None:
        return None
    for name, config in routes.configured():
        reason: str | None = None
        threshold = None
        if name == "long_context":
            threshold = routes.long_context.threshold if routes.long_context else None
            tokens = prompt_tokens()
            if threshold is not None and tokens > threshold:
                reason = f"prompt of {tokens:,} tokens > {threshold:,}"
        elif name == "images":
            images = count_images(req["messages"])
            if images:
                reason = f"{images} image block{'s' if images > 1 else ''}"
        elif name == "thinking":
            reason = _thinking(req, routes.thinking.min_effort if routes.thinking else "xhigh")
        elif name == "subagent":
            agent = headers.get(AGENT_HEADER)
            if agent:
                reason = f"{AGENT_HEADER}: {agent[:40]}"
        elif name == "background":
            reason = _background(req, route)
        if reason is not None:
            return Scenario(name, reason, tuple(config.targets), threshold)
    return None


def count_images(messages: Any) -> int:
    """Image blocks in the messages, those inside tool results included."""
    found = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            found += _images_in(content)
    return found


def _images_in(blocks: list[Any]) -> int:
    found = 0
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "image":
            found += 1
        elif block.get("type") == "tool_result" and isinstance(block.get("content"), list):
            found += _images_in(block["content"])
    return found


def _thinking(req: MessagesRequest, min_effort: str) -> str | None:
    thinking: Mapping[str, Any] = req.get("thinking") or {}
    kind = thinking.get("type")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        return f"thinking enabled (budget {budget})" if budget else "thinking enabled"
    if kind != "adaptive":
        return None
    effort = (req.get("output_config") or {}).get("effort") or _DEFAULT_EFFORT
    if effort in EFFORTS and EFFORTS.index(effort) >= EFFORTS.index(min_effort):
        return f"adaptive thinking at effort {effort} (≥ {min_effort})"
    return None


def _background(req: MessagesRequest, route: Route) -> str | None:
    if (req.get("output_config") or {}).get("format"):
        return "a structured side request (output_config.format: a session title)"
    if route.role == "small":
        return f"a haiku-class request ({req['model']})"
    return None
