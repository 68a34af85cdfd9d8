"""`lmgate route` and the routes of `lmgate serve`'s flags: scenario routes and fallbacks in the
config, as the app's Models page sets them."""

from __future__ import annotations

from typing import Any

from gateway.config import ROUTE_NAMES, GatewayConfig

__all__ = ["ROLES", "describe_routes", "parse_route_flag", "with_route", "without_route"]

ROLES = ("big", "small", "opus")


def parse_route_flag(text: str) -> tuple[str, list[str]]:
    """`NAME=TARGET[,TARGET…]` → (name, targets); ValueError with what to write instead."""
    name, sep, rest = text.partition("=")
    name = name.strip().replace("-", "_")
    targets = [t.strip() for t in rest.split(",") if t.strip()]
    if not sep or not targets:
        raise ValueError(f"--route {text!r}: write NAME=TARGET[,TARGET…]")
    if name not in ROUTE_NAMES + ROLES:
        raise ValueError(f"--route {text!r}: NAME is one of {', '.join(ROUTE_NAMES + ROLES)}")
    return name, targets


def with_route(
    data: dict[str, Any],
    name: str,
    targets: list[str],
    *,
    threshold: int | None = None,
    min_effort: str | None = None,
) -> dict[str, Any]:
    """The config's data (`model_dump()`) with route `name` set; a role's name sets the role's
    fallbacks. `threshold` (long_context) and `min_effort` (thinking) are kept when not given."""
    routes = dict(data.get("routes") or {})
    if name in ROLES:
        routes["fallbacks"] = {**(routes.get("fallbacks") or {}), name: targets}
    else:
        route: dict[str, Any] = {**(routes.get(name) or {}), "targets": targets}
        if name == "long_context" and threshold is not None:
            route["threshold"] = threshold
        if name == "thinking" and min_effort is not None:
            route["min_effort"] = min_effort
        routes[name] = route
    return {**data, "routes": routes}


def without_route(data: dict[str, Any], name: str) -> dict[str, Any]:
    routes = dict(data.get("routes") or {})
    if name in ROLES:
        routes["fallbacks"] = {
            k: v for k, v in (routes.get("fallbacks") or {}).items() if k != name
        }
    else:
        routes[name] = None
    return {**data, "routes": routes}


def describe_routes(config: GatewayConfig) -> list[str]:
    """One line per route and per role's fallbacks, for `lmgate route list`."""
    routes = config.routes
    lines: list[str] = []
    for name in ROUTE_NAMES:
        route = getattr(routes, name)
        if route is None:
            lines.append(f"{name:<13} off")
            continue
        when = ""
        if name == "long_context":
            when = f"  (prompt > {route.threshold:,} tokens)"
        elif name == "thinking":
            when = f"  (effort ≥ {route.min_effort}, or a thinking budget)"
        lines.append(f"{name:<13} {' → '.join(route.targets)}{when}")
    for role in ROLES:
        if routes.fallbacks.get(role):
            lines.append(f"{role:<13} falls back to {' → '.join(routes.fallbacks[role])}")
    for backend in config.backends:
        if backend.fallbacks:
            lines.append(f"backend {backend.id} falls back to {' → '.join(backend.fallbacks)}")
    breaker = routes.breaker
    lines.append(
        f"breaker       {breaker.failures} failures in a row skip a backend for "
        f"{breaker.cooldown:g} s, then one request probes it"
    )
    return lines
