"""What the Models page says about a choice of models: how each entry reads, and the warnings
where a choice will hurt. Qt-free, so every rule is a plain unit test."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.backends.catalogue import CatalogueSnapshot, ModelInfo
from gateway.backends.doctor import MIN_WINDOW, WANTED_WINDOW
from gateway.config import GatewayConfig
from gateway.errors import GatewayError
from gateway.routing import ROLE_MODELS, Route, resolve

__all__ = [
    "SINGLE_MODEL_KINDS",
    "Advice",
    "advise",
    "context_label",
    "model_details",
    "routed",
]

# Servers that hold one model at a time: big ≠ small means a reload on every switch. Elsewhere
# the sign is the one `lmgate doctor` reads: one of the two loaded, the other not.
SINGLE_MODEL_KINDS = frozenset({"llamacpp"})


@dataclass(frozen=True, slots=True)
class Advice:
    level: str  # "error" | "warning"
    roles: str  # "big", "small and opus", "big and small"…
    text: str


def context_label(tokens: int | None) -> str:
    if tokens is None:
        return "context unknown"
    if tokens >= 1024 and tokens % 1024 == 0:
        return f"{tokens // 1024}k context"
    return f"{tokens / 1000:.0f}k context" if tokens >= 1000 else f"{tokens} context"


def model_details(model: ModelInfo) -> str:
    """ "loaded · 32k context · tools · vision": what the dropdown entry shows beside the name."""
    parts = []
    if model.loaded is True:
        parts.append("loaded")
    elif model.loaded is False:
        parts.append("not loaded")
    if model.context_window is not None:
        parts.append(context_label(model.context_window))
    elif model.max_context is not None:
        parts.append("up to " + context_label(model.max_context))
    caps = [
        name
        for name, flag in (
            ("tools", model.tools),
            ("vision", model.vision),
            ("thinking", model.thinking),
        )
        if flag
    ]
    if model.tools is False:
        caps.append("no tools")
    return " · ".join(parts + caps)


def routed(role: str, config: GatewayConfig, snapshot: CatalogueSnapshot) -> Route | None:
    """Where a request for `role` goes now; None when no model is known for it."""
    try:
        return resolve(ROLE_MODELS[role], config, snapshot.index())
    except GatewayError:
        return None


def advise(
    config: GatewayConfig, snapshot: CatalogueSnapshot, *, images_in_use: bool = False
) -> list[Advice]:
    roles = ["big", "small"] + (["opus"] if config.opus else [])
    routes = {role: routed(role, config, snapshot) for role in roles}
    # One line per problem: the same model in two roles is one model with one window.
    found: dict[tuple[str, str], list[str]] = {}
    for role, route in routes.items():
        for level, text in _problems(route, snapshot, images_in_use):
            found.setdefault((level, text), []).append(role)
    advice = [Advice(level, _roles(owners), text) for (level, text), owners in found.items()]
    big, small = routes.get("big"), routes.get("small")
    if big and small and big.backend_id == small.backend_id and big.model != small.model:
        backend = snapshot.backend(big.backend_id)
        big_model = snapshot.model(big.backend_id, big.model)
        small_model = snapshot.model(small.backend_id, small.model)
        one_loaded = (
            big_model is not None
            and small_model is not None
            and bool(big_model.loaded) != bool(small_model.loaded)
        )
        if (
            backend is not None
            and not backend.remote
            and (backend.kind in SINGLE_MODEL_KINDS or one_loaded)
        ):
            advice.append(
                Advice(
                    "warning",
                    "big and small",
                    f"{big.backend_id} does not keep both models loaded: with different big and "
                    "small models it reloads on every switch (use the big model for small too)",
                )
            )
    return sorted(advice, key=lambda a: a.level != "error")


def _roles(owners: list[str]) -> str:
    return " and ".join(owners) if len(owners) < 3 else "big, small and opus"


def _problems(
    route: Route | None, snapshot: CatalogueSnapshot, images_in_use: bool
) -> list[tuple[str, str]]:
    if route is None:
        return [("error", "no model is available: start a backend and load a model")]
    problems = []
    backend = snapshot.backend(route.backend_id)
    model = snapshot.model(route.backend_id, route.model)
    name = f"{route.model} on {route.backend_id}"
    if backend is not None and backend.state == "down":
        problems.append(("error", f"{route.backend_id} is not answering"))
    if model is None:
        return problems
    if model.loaded is False:
        problems.append(("warning", f"{name} is not loaded: the first request waits for it"))
    # The loaded context is what counts; the model's maximum only says what a reload allows.
    window = model.context_window
    if window is not None and window < MIN_WINDOW:
        problems.append(
            (
                "error",
                f"{name} is loaded with a {context_label(window)} window: Claude Code needs at "
                "least 32k (reload it with a larger context length)",
            )
        )
    elif window is not None and window < WANTED_WINDOW:
        problems.append(
            (
                "warning",
                f"{name} has a {context_label(window)} window: under 64k, sessions compact often",
            )
        )
    if model.tools is False:
        problems.append(("warning", f"{name} does not support tools: Claude Code needs them"))
    if images_in_use and model.vision is False:
        problems.append(("warning", f"{name} cannot see images, and your requests have some"))
    return problems
