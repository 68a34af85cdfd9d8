"""`create_app`: the FastAPI application, its lifespan (the backend registry: clients, discovery,
catalogue) and the handlers for what the framework raises (answered by api/error_answers.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import __version__
from gateway.api import info, messages, metrics
from gateway.api.error_answers import error_response
from gateway.api.guard import Guard
from gateway.api.record import refusal
from gateway.api.state import GatewayState
from gateway.backends.registry import Registry
from gateway.config import GatewayConfig, default_config_path
from gateway.errors import GatewayError, NotFound, for_status
from gateway.events import EventBus
from gateway.memory import HeapTrimmer
from gateway.team.clients import clients_path
from gateway.team.gate import Team, TeamFiles
from gateway.upstream.client import Transport

__all__ = ["create_app"]


def create_app(
    config: GatewayConfig,
    *,
    bus: EventBus | None = None,
    token: Callable[[], str | None] | str | None = None,
    transport: Transport = "aiohttp",
    api_keys: dict[str, str] | None = None,
    registry: Registry | None = None,
    team_files: TeamFiles | None = None,
) -> FastAPI:
    """Build the gateway. `token` is the gateway token (or a callable returning the current one);
    `api_keys` maps backend id → key, read from the keyring/environment by the caller (never on the
    event loop). `registry` (default: one built from `config`) is started and stopped by the
    app's lifespan; the GUI passes its own to subscribe to catalogue changes. `team_files`:
    the client list and the usage history to write (default: clients.toml beside the default
    config, no history)."""
    token_fn: Callable[[], str | None] = token if callable(token) else (lambda: token)
    state = GatewayState(config=config, bus=bus or EventBus(), token=token_fn)
    keys = api_keys or {}
    team = Team(
        team_files or TeamFiles(clients_path(default_config_path())),
        bind_host=config.host,
        require_keys=config.team.require_client_keys,
        redis_url=config.team.redis_url,
    )
    state.team = team

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.started_at = time.time()
        # Clients are created and closed on this loop, the one that serves the requests.
        state.registry = registry or Registry(config, api_keys=keys, transport=transport)
        shared_threads = await team.start()
        if shared_threads is not None:
            state.threads = shared_threads
        unsubscribe = state.bus.subscribe(team.on_record)
        await state.registry.start()
        heap = HeapTrimmer()
        unsubscribe_heap = state.bus.subscribe(heap.note)
        trimmer = asyncio.create_task(heap.run(), name="lmgate-heap-trim")
        try:
            yield
        finally:
            trimmer.cancel()
            unsubscribe_heap()
            await state.registry.stop()
            unsubscribe()
            await team.stop()

    app = FastAPI(
        # FastAPI's native OpenTelemetry asks the global providers on every request whether
        # anyone listens (~2 % of a small request's CPU); the gateway's telemetry is its
        # request records.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title="LM Gate",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.gateway = state
    app.include_router(messages.router)
    app.include_router(info.router)
    app.include_router(metrics.router)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            error: GatewayError = NotFound(
                f"{request.method} {request.url.path} is not an endpoint here"
            )
        else:
            error = for_status(exc.status_code, str(exc.detail))
        error.retryable = False  # the framework's answer to this request: asking again is the same
        return error_response(error)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        # GatewayError is a 500 api_error; its x-should-retry: true is what a client assumes for
        # a 500 without the header.
        return error_response(GatewayError(f"the gateway failed: {type(exc).__name__}"))

    app.add_middleware(
        Guard,
        bind_host=config.host,
        allowed_hosts=config.allowed_hosts,
        token=token_fn,
        max_body_bytes=config.max_body_bytes,
        fast_posts={
            "/v1/messages": _endpoint(messages.create_message),
            "/v1/messages/count_tokens": _endpoint(messages.count_message_tokens),
        },
        on_refused=lambda scope, error, request_id: refusal(scope, error, request_id).publish(
            state.bus
        ),
        team=team,
    )
    return app


def _endpoint(handler: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    """A route handler as a plain ASGI app (the guard's fast path)."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        response = await handler(Request(scope, receive, send))
        await response(scope, receive, send)

    return asgi
