"""A logged request as a curl command that replays it against the gateway (POSIX shell)."""

from __future__ import annotations

import shlex
from typing import Any

import orjson

__all__ = ["as_curl"]

# Set by curl itself, or tied to the original connection.
_SKIP = frozenset(
    {"host", "content-length", "connection", "accept-encoding", "transfer-encoding", "expect"}
)
_SECRET = frozenset({"authorization", "x-api-key", "api-key", "cookie", "proxy-authorization"})


def as_curl(
    base_url: str,
    path: str,
    body: Any,
    headers: dict[str, str] | None = None,
    *,
    token_needed: bool = False,
) -> str:
    """The token is never in the command: when the gateway needs one, `lmgate token` fetches it
    at run time."""
    parts = ["curl", "-sS", shlex.quote(base_url.rstrip("/") + path)]
    sent = {k.lower(): v for k, v in (headers or {}).items()}
    sent.setdefault("content-type", "application/json")
    sent.setdefault("anthropic-version", "2023-06-01")
    for name, value in sent.items():
        if name in _SKIP or name in _SECRET:
            continue
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    if token_needed:
        parts += ["-H", '"x-api-key: $(lmgate token)"']
    data = orjson.dumps(body).decode() if body is not None else "{}"
    parts += ["--data-binary", shlex.quote(data)]
    return " \\\n  ".join(_pairs(parts))


def _pairs(parts: list[str]) -> list[str]:
    # One option and its value per line.
    lines = [" ".join(parts[:3])]
    rest = parts[3:]
    for i in range(0, len(rest), 2):
        lines.append(" ".join(rest[i : i + 2]))
    return lines
