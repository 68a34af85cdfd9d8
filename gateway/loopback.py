"""The loopback rule: a gateway that other machines can reach must ask for a token."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback", "unguarded"]


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address (IPv6 in brackets or not): only this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def unguarded(host: str, token: object) -> bool:
    """Listening on `host` with no token would let anyone who can reach this machine use its
    models: the CLI and the app both refuse it."""
    return not token and not is_loopback(host)
