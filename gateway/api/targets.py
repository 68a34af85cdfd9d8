"""A request's targets: the scenario route it matches (gateway/scenarios.py), else its role's
model and fallbacks, expanded with replicas and backend fallbacks (gateway/candidates.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.backends.catalogue import CatalogueSnapshot
from gateway.candidates import Target, expand, fits, role_routes
from gateway.config import GatewayConfig
from gateway.context import PromptCounter
from gateway.errors import GatewayError
from gateway.routing import ModelIndex, Route, resolve_target
from gateway.scenarios import Scenario, match
from gateway.schemas.anthropic import MessagesRequest

__all__ = ["Targets", "targets_for"]


@dataclass(slots=True)
class Targets:
    targets: list[Target]
    scenario: Scenario | None = None
    warnings: list[str] = field(default_factory=list)


def targets_for(
    req: MessagesRequest,
    headers: Mapping[str, str],
    route: Route,
    config: GatewayConfig,
    index: ModelIndex,
    snapshot: CatalogueSnapshot,
    counter: PromptCounter,
) -> Targets:
    """Counts the prompt only for a long-context route (off the event loop for a large body)."""
    tokens: list[int] = []

    def prompt_tokens() -> int:
        if not tokens:
            tokens.append(counter.count(req))
        return tokens[0]

    scenario = match(req, headers, route, config.routes, prompt_tokens)
    if scenario is None:
        return Targets(expand(role_routes(route, config, index), config, index))
    routes: list[Route] = []
    for text in scenario.targets:
        try:
            routes.append(resolve_target(text, config, index, route.rule))
        except GatewayError:
            continue  # a target on no known backend (yet)
    targets = expand(routes, config, index)
    if scenario.name == "long_context" and tokens:
        # Only the targets whose loaded window holds the prompt (or may: unknown).
        targets = [
            kept
            for target in targets
            if (kept := tuple(c for c in target if fits(snapshot, c, tokens[0]) is not False))
        ]
    if not targets:
        why = f"route {scenario.name} ({scenario.reason}): none of its targets can take it"
        return Targets(expand(role_routes(route, config, index), config, index), warnings=[why])
    return Targets(targets, scenario)
