"""Slow and surplus clients: a connection that has not sent its request's headers within
`header_timeout` seconds is closed, and past `max_connections` open connections a request gets
Anthropic's 529 overloaded_error (retried by Claude Code) and its connection is closed.

uvicorn has neither: its keep-alive timer runs only between requests, so a client that sends
its headers a byte at a time (or connects and sends nothing) holds a connection for ever; and
its `limit_concurrency` answers a plain-text 503. Both live here, in the HTTP protocol, where
the connection is seen before any ASGI code runs.
"""

from __future__ import annotations

import asyncio
import sys
from functools import partial
from typing import Any, ClassVar

from starlette.types import Receive, Scope, Send

from gateway.api.error_answers import send_error
from gateway.api.framing import AnthropicHttpToolsProtocol
from gateway.errors import Overloaded

__all__ = ["GuardedHttpProtocol", "TooManyConnections", "connection_limit", "guarded_protocol"]


class TooManyConnections(Overloaded):
    """529 past the connection limit."""

    def headers(self) -> dict[str, str]:
        # Closed after the answer: the point is to have fewer connections open.
        return {**super().headers(), "connection": "close"}


class GuardedHttpProtocol(AnthropicHttpToolsProtocol):
    """The gateway's HTTP/1.1 protocol: Anthropic-shaped 400s (framing.py), a deadline for each
    request's headers, and a cap on open connections. `guarded_protocol` sets the two limits."""

    header_timeout: ClassVar[float] = 5.0
    max_connections: ClassVar[int] = 512

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # From the connection, not from the first byte: a client that sends nothing is slow too.
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # the next request on a kept-alive connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        if len(self.connections) <= self.max_connections:
            super().on_headers_complete()
            return
        app = self.app
        # This one request only; uvicorn runs it as it would the app.
        self.app = partial(_refuse, self.max_connections)
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        # No answer: a client this slow is not reading one, and each byte written costs.
        if not self.transport.is_closing():
            self.transport.close()


async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    error = TooManyConnections(
        f"the gateway has more than {limit} connections open; try again in a moment",
        retry_after=1,
    )
    await send_error(send, error, None)


def connection_limit(configured: int) -> int:
    """`configured`, within what the process may open: each client connection is a file
    descriptor, and may need one to a backend (macOS gives a terminal's processes 256)."""
    if sys.platform == "win32":
        return configured
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return min(configured, max(16, (soft - 64) // 2))


def guarded_protocol(header_timeout: float, max_connections: int) -> type[GuardedHttpProtocol]:
    """The protocol class uvicorn instantiates per connection, with these limits."""
    return type(
        "GuardedHttpProtocol",
        (GuardedHttpProtocol,),
        {"header_timeout": header_timeout, "max_connections": connection_limit(max_connections)},
    )
