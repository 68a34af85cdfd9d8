"""What the request path does for auto mode (`safeguards`) on every request, with nothing of the
review loaded: the review's beta, and the request as a backend gets it. The review itself
(api/reviewer.py, gateway/review/) is imported with the first request that carries a
safeguard."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.schemas.anthropic import MessagesRequest

__all__ = ["BETA", "wants_review", "without_safeguards"]

BETA = "dangerous-tool-use-2026-09-03"


def wants_review(req: MessagesRequest) -> bool:
    """Whether the request has a `safeguards` list to look in (the reviewer finds the entry)."""
    return isinstance(req.get("safeguards"), list)


def without_safeguards(
    req: MessagesRequest, raw: dict[str, Any], headers: Mapping[str, str]
) -> tuple[MessagesRequest, dict[str, Any], dict[str, str]]:
    """The request as a backend gets it: no `safeguards`, no `dangerous-tool-use` beta. The
    gateway answers the review itself for every backend, native ones included (a local server
    refuses the field, and the verdicts must be keyed by the tool ids the client receives)."""
    out_headers = dict(headers)
    beta = out_headers.get("anthropic-beta")
    if beta is not None:
        kept = [b for b in beta.split(",") if b.strip() and b.strip() != BETA]
        if kept:
            out_headers["anthropic-beta"] = ",".join(kept)
        else:
            del out_headers["anthropic-beta"]
    if "safeguards" not in raw and "safeguards" not in req:
        return req, raw, out_headers
    stripped: Any = {k: v for k, v in req.items() if k != "safeguards"}
    return stripped, {k: v for k, v in raw.items() if k != "safeguards"}, out_headers
