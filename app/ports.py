"""Which port is free next, for the settings page and a port that is taken."""

from __future__ import annotations

import socket

__all__ = ["next_free_port"]


def next_free_port(host: str, taken: int, tries: int = 50) -> int | None:
    """The first port after `taken` that can be bound on `host` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in range(taken + 1, min(taken + 1 + tries, 65536)):
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host.strip("[]"), port))
            except OSError:
                continue
            return port
    return None
