"""The ordered ways to serve one request: its targets, each with the backends that serve the same
model, then the fallbacks. Pure: routes, the config and the catalogue come in.

A target is a tuple of interchangeable choices (one model, several backends: replicas); the router
(gateway/router.py) puts the least busy healthy one first. The targets come in this order:
  the route's own targets (a scenario route's list, or the role's model then
  `routes.fallbacks[role]`), each followed by the `fallbacks` of its backends (same model if the
  fallback backend lists it, else that backend's first model).
A backend named in a target ("backend:model", a catalogue id) is pinned: no replica stands in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.backends.catalogue import CatalogueSnapshot
from gateway.config import GatewayConfig
from gateway.errors import GatewayError
from gateway.routing import ModelIndex, Route, resolve_target

__all__ = ["Choice", "Target", "expand", "fits", "role_routes", "window_of"]


@dataclass(frozen=True, slots=True)
class Choice:
    backend_id: str
    model: str


Target = tuple[Choice, ...]


def expand(routes: Sequence[Route], config: GatewayConfig, index: ModelIndex) -> list[Target]:
    """The targets of `routes` (in order) with their replicas and backend fallbacks; a choice
    appears once, where it first comes."""
    seen: set[Choice] = set()
    out: list[Target] = []

    def add(choices: Sequence[Choice]) -> None:
        fresh = tuple(c for c in choices if c not in seen)
        seen.update(fresh)
        if fresh:
            out.append(fresh)

    fallbacks = {b.id: b.fallbacks for b in config.backends if b.enabled}
    for route in routes:
        target = _replicas(route, index)
        add(target)
        for choice in target:
            for backend_id in fallbacks.get(choice.backend_id, ()):
                add((_on(backend_id, choice.model, index),))
    return out


def role_routes(route: Route, config: GatewayConfig, index: ModelIndex) -> list[Route]:
    """A role's model and then its `routes.fallbacks`; an unknown fallback is left out."""
    routes = [route]
    if route.role is not None:
        for text in config.routes.fallbacks.get(route.role, ()):
            try:
                routes.append(resolve_target(text, config, index, route.rule))
            except GatewayError:
                continue
    return routes


def window_of(snapshot: CatalogueSnapshot, choice: Choice) -> int | None:
    """The context the request can have there: the loaded window (Ollama's /api/chat can load
    the model's whole trained context), None when unknown."""
    model = snapshot.model(choice.backend_id, choice.model)
    if model is None:
        return None
    info = snapshot.backend(choice.backend_id)
    if info is not None and info.kind == "ollama":
        return model.max_context or model.context_window
    return model.context_window


def fits(snapshot: CatalogueSnapshot, choice: Choice, tokens: int) -> bool | None:
    """Whether `tokens` fit the choice's window; None when the window is unknown."""
    window = window_of(snapshot, choice)
    return None if window is None else tokens <= window


def _replicas(route: Route, index: ModelIndex) -> Target:
    first = Choice(route.backend_id, route.model)
    if route.pinned:
        return (first,)
    others = (
        Choice(backend_id, route.model)
        for backend_id, names in index.models.items()
        if backend_id != route.backend_id and route.model in names
    )
    return (first, *others)


def _on(backend_id: str, model: str, index: ModelIndex) -> Choice:
    names = index.models.get(backend_id) or ()
    if model in names or not names:
        return Choice(backend_id, model)
    tagged = f"{model}:latest"
    return Choice(backend_id, tagged if tagged in names else names[0])
