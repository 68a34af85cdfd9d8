"""`GET /v1/models`, `GET /health`, and the probes Claude Code sends (`HEAD /`, `/api/hello`).

All answered from the registry's catalogue: no backend is called on these paths.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway import __version__
from gateway.api.error_answers import error_response
from gateway.api.state import GatewayState
from gateway.backends.catalogue import BackendInfo, ModelInfo
from gateway.errors import NotFound

__all__ = ["describe", "model_entries", "router"]

router = APIRouter()

ROLE_IDS = {
    "big": "claude-lmgate-sonnet",
    "small": "claude-lmgate-haiku",
    "opus": "claude-lmgate-opus",
}


def _state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _rfc3339(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def model_entries(state: GatewayState) -> list[dict[str, Any]]:
    """The role aliases, then one `claude-…` id per routable catalogue model (Claude Code's
    /model picker lists only ids that start with `claude`)."""
    assert state.registry is not None
    config = state.config
    snapshot = state.registry.snapshot()
    index = state.registry.index()
    created_default = _rfc3339(state.started_at)
    entries: list[dict[str, Any]] = []
    roles = [("big", config.big), ("small", config.small or config.big)]
    if config.opus:
        roles.append(("opus", config.opus))
    first = next((names[0] for names in index.models.values() if names), None)
    for role, target in roles:
        what = target or first or "the first model the backend lists"
        label = {"big": "Big", "small": "Small", "opus": "Opus"}[role]
        entries.append(
            {
                "type": "model",
                "id": ROLE_IDS[role],
                "display_name": f"{label} model: {what} (LM Gate)",
                "created_at": created_default,
            }
        )
    for cid, (backend_id, name) in index.catalogue().items():
        model = snapshot.model(backend_id, name)
        created = model.created if model else None
        entries.append(
            {
                "type": "model",
                "id": cid,
                "display_name": describe(name, model, snapshot.backend(backend_id)),
                "created_at": _rfc3339(created) if created else created_default,
            }
        )
    return entries


def describe(name: str, model: ModelInfo | None, backend: BackendInfo | None) -> str:
    """What a model is, in a line: `qwen3:8b on ollama, loaded, 32k context (LM Gate)`."""
    parts = [f"{name} on {backend.id if backend else 'an unknown backend'}"]
    if backend is not None and backend.state == "down":
        parts.append("backend down")
    elif model is not None and model.loaded is not None:
        parts.append("loaded" if model.loaded else "not loaded")
    if model is not None and model.context_window:
        parts.append(f"{_tokens(model.context_window)} context")
    elif model is not None and model.max_context:
        parts.append(f"up to {_tokens(model.max_context)} context")
    return ", ".join(parts) + " (LM Gate)"


def _tokens(count: int) -> str:
    return f"{count // 1024}k" if count >= 1024 and count % 1024 == 0 else f"{count:,}"


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    entries = model_entries(_state(request))
    params = request.query_params
    try:
        limit = min(1000, max(1, int(params.get("limit", "20"))))
    except ValueError:
        limit = 20
    ids = [e["id"] for e in entries]
    start = 0
    if (after := params.get("after_id")) and after in ids:
        start = ids.index(after) + 1
    end = len(entries)
    if (before := params.get("before_id")) and before in ids:
        end = ids.index(before)
        start = max(start, end - limit)
    page = entries[start : min(end, start + limit)]
    return _json(
        {
            "data": page,
            "has_more": start + len(page) < end,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
    )


# The id is read from the path, not declared as a typed parameter: a typed parameter is a
# pydantic field, and building one makes FastAPI import pydantic.v1 (~2.5 MB) to rule out a v1
# model. The schema still lists the parameter.
_MODEL_ID = {
    "parameters": [
        {"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
}


@router.get("/v1/models/{model_id:path}", openapi_extra=_MODEL_ID)
async def get_model(request: Request) -> Response:
    model_id: str = request.path_params["model_id"]
    for entry in model_entries(_state(request)):
        if entry["id"] == model_id:
            return _json(entry)
    return error_response(NotFound(f"model '{model_id}' is not listed here"))


@router.get("/health")
async def health(request: Request) -> Response:
    state = _state(request)
    assert state.registry is not None
    snapshot = state.registry.snapshot()
    backends = [
        {
            "id": b.id,
            "kind": b.kind,
            "url": b.url,
            "status": b.state,
            "version": b.version,
            "protocol": b.protocol,
            "discovered": b.discovered,
            "remote": b.remote,
            "latency_ms": b.latency_ms,
            "models": [m.name for m in snapshot.models_of(b.id)],
            "loaded": [m.name for m in snapshot.models_of(b.id) if m.loaded],
            "error": b.error,
            "checked_at": _rfc3339(b.checked_at) if b.checked_at else None,
        }
        for b in snapshot.backends
    ]
    live = [b for b in backends if b["status"] != "disabled"]
    up = sum(1 for b in live if b["status"] == "up")
    overall = "ok" if live and up == len(live) else ("degraded" if up else "down")
    return _json(
        {
            "status": overall,
            "version": __version__,
            "uptime_s": round(time.time() - state.started_at, 1),
            "backends": backends,
        }
    )


@router.get("/")
async def root(request: Request) -> Response:
    state = _state(request)
    return _json(
        {
            "name": "LM Gate",
            "version": __version__,
            "endpoints": ["/v1/messages", "/v1/messages/count_tokens", "/v1/models", "/health"],
            "base_url": state.config.base_url,
        }
    )


@router.head("/")
@router.head("/api/hello")
@router.get("/api/hello")
async def hello() -> Response:
    return _json({"ok": True})
