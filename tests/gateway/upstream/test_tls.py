"""gateway/upstream/tls.py: one verifying context per process, none loaded for plain HTTP, and the
probe client's https:// transport made at its first request."""

from __future__ import annotations

import asyncio
import ssl

import httpx

from gateway.config import BackendConfig, Timeouts
from gateway.upstream import tls
from gateway.upstream.client import Upstream


def test_https_gets_the_one_verifying_context_with_the_cas() -> None:
    context = tls.for_url("https://api.example.com/v1")
    assert context is tls.for_url("HTTPS://other.example.com") is tls.verified()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0


def test_plain_http_gets_a_context_that_trusts_nothing() -> None:
    context = tls.for_url("http://127.0.0.1:1234/v1")
    assert context is tls.plain()
    # A handshake it should never attempt would fail closed, not go unverified.
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0


def test_an_upstream_takes_the_context_of_its_url() -> None:
    timeouts = Timeouts()
    local = Upstream(BackendConfig(id="local", url="http://127.0.0.1:1234/v1"), timeouts)
    remote = Upstream(BackendConfig(id="remote", url="https://api.example.com/v1"), timeouts)
    plain = Upstream(
        BackendConfig(id="plain", url="http://127.0.0.1:1234/v1"), timeouts, transport="httpx"
    )
    assert local.transport.ssl_context is tls.plain()  # type: ignore[attr-defined]
    assert remote.transport.ssl_context is tls.verified()  # type: ignore[attr-defined]
    assert plain.transport._pool._ssl_context is tls.plain()  # type: ignore[attr-defined]

    async def close() -> None:
        for upstream in (local, remote, plain):
            await upstream.aclose()

    asyncio.run(close())


def test_the_lazy_transport_is_made_at_the_first_request_and_once() -> None:
    made: list[httpx.MockTransport] = []

    def make() -> httpx.AsyncBaseTransport:
        inner = httpx.MockTransport(lambda request: httpx.Response(200, text=request.url.host))
        made.append(inner)
        return inner

    lazy = tls.LazyTransport(make)

    async def run() -> list[str]:
        async with httpx.AsyncClient(mounts={"https://": lazy}) as client:
            assert made == []
            first = await client.get("https://one.example.com/")
            second = await client.get("https://two.example.com/")
            return [first.text, second.text]

    assert asyncio.run(run()) == ["one.example.com", "two.example.com"]
    assert len(made) == 1
