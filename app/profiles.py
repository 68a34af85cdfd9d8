"""Profiles: named setups ("Local", "Cloud", "Off"…) of the backends, the models for Claude
Code's roles and auto mode's review choice, saved in the config and switched from Settings or
the tray in one click. A switch is a config change: the models apply to the next request, a
change of backends restarts the server, which lets the requests in flight finish."""

from __future__ import annotations

from typing import Any

from app.controller import GatewayController
from app.signals import emit
from gateway.config import GatewayConfig

__all__ = ["PROFILE_FIELDS", "active_profile", "delete_profile", "save_profile", "switch_profile"]

# What a profile holds: the backends, the models for Claude Code's roles, auto mode's review.
PROFILE_FIELDS = ("backends", "discover", "big", "small", "opus", "review")


def values_of(config: GatewayConfig) -> dict[str, Any]:
    """The profile's fields of `config`, as TOML can hold them (no nulls: an absent field is
    its default)."""
    dumped = config.model_dump(mode="json", exclude_none=True)
    return {name: dumped[name] for name in PROFILE_FIELDS if name in dumped}


def _complete(values: dict[str, Any]) -> dict[str, Any]:
    """Every profile field: the saved value, or the default (None for a model not set)."""
    defaults = GatewayConfig().model_dump(mode="json")
    return {name: values.get(name, defaults.get(name)) for name in PROFILE_FIELDS}


def active_profile(config: GatewayConfig) -> str | None:
    """The profile whose values are the config's now (None: none matches)."""
    now = _complete(values_of(config))
    for name, values in config.profiles.items():
        if _complete(values) == now:
            return name
    return None


def save_profile(controller: GatewayController, name: str) -> bool:
    name = name.strip()
    if not name:
        return False
    profiles = {**controller.config.profiles, name: values_of(controller.config)}
    return controller.update(profiles=profiles)


def delete_profile(controller: GatewayController, name: str) -> bool:
    profiles = {k: v for k, v in controller.config.profiles.items() if k != name}
    return controller.update(profiles=profiles)


def switch_profile(controller: GatewayController, name: str) -> bool:
    values = controller.config.profiles.get(name)
    if values is None:
        return False
    ok = controller.update(**_complete(values))
    if ok:
        emit(controller.notice, f"Profile {name} in use")
    return ok
