"""The TLS contexts of the gateway's HTTP clients: one verifying context per process, made on first
use, and none loaded for a client that only speaks plain HTTP.

httpx and httpx-aiohttp build a fresh context from certifi's bundle for every client by default:
~1.9 MB for the first and ~0.8 MB for each further one, held even by the clients of local
backends, which never speak TLS.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable

import httpx

__all__ = ["LazyTransport", "for_url", "plain", "verified"]


@functools.cache
def verified() -> ssl.SSLContext:
    """What httpx uses by default (certifi's CAs, hostnames checked), shared by every client."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


@functools.cache
def plain() -> ssl.SSLContext:
    """For a client made for an http:// URL: it verifies like any client context but trusts no
    CA at all, so that a TLS handshake it should never attempt fails closed."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def for_url(url: str) -> ssl.SSLContext:
    return verified() if url.lower().startswith("https:") else plain()


class LazyTransport(httpx.AsyncBaseTransport):
    """A transport made at its first request: mounted for https:// on a client that mostly probes
    local http:// servers, so that the verifying context is only loaded if one is remote."""

    def __init__(self, make: Callable[[], httpx.AsyncBaseTransport]) -> None:
        self._make = make
        self._inner: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._inner is None:
            self._inner = self._make()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()
