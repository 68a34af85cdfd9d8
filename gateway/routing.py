"""Which backend model serves a client's model name. Pure: config and the model list come in.

Rules, first match wins (the record says which one matched):
  alias     a configured alias (exact name)
  catalogue a `claude-…` id that `/v1/models` lists for one backend model
  exact     a backend model's exact name (or "backend:model")
  haiku     a name containing "haiku" → the small model
  opus      a name containing "opus" → the opus model if one is set apart, else big
  big       "sonnet", "fable", or any name starting with "claude"/"anthropic" → the big model
A trailing "[1m]" (Claude Code's 1M-context marker) is ignored. Anything else is a 404.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.config import GatewayConfig
from gateway.errors import BackendUnavailable, NotFound

__all__ = [
    "FAMILY_ROLES",
    "ROLES",
    "ROLE_MODELS",
    "ModelIndex",
    "Route",
    "catalogue_id",
    "resolve",
    "resolve_target",
]

# The roles a client's Claude model name reaches; each is a config field naming a backend model.
ROLES = ("big", "small", "opus")
# Claude's model families and the role each reaches, matched in this order anywhere in the name.
# Any other `claude…`/`anthropic…` name (a mythos one, a future family) reaches "big" too.
FAMILY_ROLES: Mapping[str, str] = {
    "haiku": "small",
    "opus": "opus",
    "sonnet": "big",
    "fable": "big",
}
# The name Claude Code sends in each role (Dec 2026): its `sonnet` and `opus` aliases resolve to
# the 5.5 models, and behind a gateway `haiku` still resolves to Haiku 4.5 (the name the export
# line sets as ANTHROPIC_DEFAULT_HAIKU_MODEL). Resolved like a request's, they say which backend
# model a role reaches (doctor, the Models page, the swap warning).
ROLE_MODELS: Mapping[str, str] = {
    "big": "claude-sonnet-5-5",
    "small": "claude-haiku-4-5",
    "opus": "claude-opus-5-5",
}


@dataclass(frozen=True, slots=True)
class Route:
    backend_id: str
    model: str
    rule: str
    role: str | None = None  # "big" | "small" | "opus" when reached through a role
    # The backend was named ("backend:model", a catalogue id): no other backend serving the same
    # model stands in for it.
    pinned: bool = False


@dataclass(frozen=True, slots=True)
class ModelIndex:
    """What the backends are known to serve: backend id → model names, in the backend's order."""

    models: Mapping[str, Sequence[str]]

    def backend_of(self, model: str) -> str | None:
        for backend_id, names in self.models.items():
            if model in names:
                return backend_id
        return None

    def listed_name(self, model: str, backend_id: str | None = None) -> str:
        """`model` as the backend lists it: Ollama lists `qwen3` as `qwen3:latest`."""
        tagged = f"{model}:latest"
        for bid, names in self.models.items():
            if backend_id in (None, bid) and model not in names and tagged in names:
                return tagged
        return model

    def catalogue(self) -> dict[str, tuple[str, str]]:
        """`claude-…` id → (backend, model): one id per backend model, stable across calls."""
        table: dict[str, tuple[str, str]] = {}
        for backend_id, names in self.models.items():
            for name in names:
                cid = catalogue_id(name)
                if cid in table:
                    cid = catalogue_id(f"{backend_id}-{name}")
                table[cid] = (backend_id, name)
        return table


_SLUG = re.compile(r"[^a-z0-9]+")


def catalogue_id(model: str) -> str:
    """A Claude-Code-pickable id for a backend model (the `/model` picker lists only `claude…`)."""
    slug = _SLUG.sub("-", model.lower()).strip("-") or "model"
    return f"claude-local-{slug}"


def resolve(client_model: str, config: GatewayConfig, index: ModelIndex) -> Route:
    name = client_model.strip()
    if name.endswith("[1m]"):
        name = name[: -len("[1m]")]
    if name in config.aliases:
        target = config.aliases[name]
        if target in ROLES:
            return _role(target, config, index, "alias")
        return _target(target, config, index, "alias", None)
    catalogue = index.catalogue()
    if name in catalogue:
        backend_id, model = catalogue[name]
        return Route(backend_id, model, "catalogue", pinned=True)
    exact = _exact(name, config, index)
    if exact is not None:
        return exact
    lowered = name.lower()
    for family, role in FAMILY_ROLES.items():
        if family in lowered:
            # The record names the family for a role set apart, else the role.
            return _role(role, config, index, family if role != "big" else "big")
    if lowered.startswith(("claude", "anthropic")):
        return _role("big", config, index, "big")
    valid = sorted({*config.aliases, *catalogue, *(m for ms in index.models.values() for m in ms)})
    listing = ", ".join(valid) if valid else "no backend models are known yet"
    raise NotFound(
        f"model '{client_model}' is not served here. Use a Claude model name (sonnet, opus, haiku) "
        f"or one of: {listing}"
    )


def resolve_target(text: str, config: GatewayConfig, index: ModelIndex, rule: str) -> Route:
    """A route's target as the config names it: a role, "backend:model" or a model."""
    if text in ROLES:
        return _role(text, config, index, rule)
    return _target(text, config, index, rule, None)


def _backend_ids(config: GatewayConfig, index: ModelIndex) -> list[str]:
    """Configured backends first, then those the catalogue knows (discovered ones)."""
    ids = [b.id for b in config.backends if b.enabled]
    return ids + [backend_id for backend_id in index.models if backend_id not in ids]


def _exact(name: str, config: GatewayConfig, index: ModelIndex) -> Route | None:
    backend_ids = set(_backend_ids(config, index))
    if ":" in name:
        backend_id, _, model = name.partition(":")
        if backend_id in backend_ids:
            return Route(backend_id, index.listed_name(model, backend_id), "exact", pinned=True)
    listed = index.listed_name(name)
    owner = index.backend_of(listed)
    return Route(owner, listed, "exact") if owner is not None else None


def _role(role: str, config: GatewayConfig, index: ModelIndex, rule: str) -> Route:
    target = {"big": config.big, "small": config.small, "opus": config.opus}[role]
    if role == "opus" and target is None:
        target, role = config.big, "big"
    if role == "small" and target is None:
        target = config.big
    return _target(target, config, index, rule, role)


def _target(
    target: str | None, config: GatewayConfig, index: ModelIndex, rule: str, role: str | None
) -> Route:
    backend_ids = _backend_ids(config, index)
    if target:
        backend_id, sep, model = target.partition(":")
        if sep and backend_id in backend_ids:
            model = index.listed_name(model, backend_id)
            return Route(backend_id, model, rule, role, pinned=True)
        listed = index.listed_name(target)
        owner = index.backend_of(listed) or (backend_ids[0] if backend_ids else None)
        if owner is not None:
            return Route(owner, listed, rule, role)
    else:
        # No model chosen: the first model the first backend lists, on that backend (its
        # fallbacks, not replicas, stand in for it).
        for backend_id in backend_ids:
            names = index.models.get(backend_id) or ()
            if names:
                return Route(backend_id, names[0], rule, role, pinned=True)
    known = ", ".join(backend_ids) or "none found"
    what = f"'{target}' is on no known backend" if target else "no backend has listed any model"
    raise BackendUnavailable(
        f"no model for '{role or 'big'}': {what} yet (backends: {known}). Start LM Studio or "
        "Ollama and load a model, or pass --big MODEL."
    )
