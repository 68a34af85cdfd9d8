"""`GET /metrics`: Prometheus's text format, behind the gateway token or an admin client key
(the guard checks it)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.api.state import GatewayState
from gateway.team.metrics import CONTENT_TYPE

__all__ = ["router"]

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    state: GatewayState = request.app.state.gateway
    assert state.team is not None
    return Response(state.team.metrics.render(), headers={"content-type": CONTENT_TYPE})
