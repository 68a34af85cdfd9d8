"""One pooled, keep-alive HTTP client per backend, with httpx's API over the fastest transport.

Transport: httpx with the `httpx-aiohttp` transport by default (measured in tests/bench: it costs
several times less CPU per request and per streamed chunk than httpx's own httpcore transport);
`transport="httpx"` keeps the pure-httpx one. Read timeouts are NOT set on the client: the relay
enforces first-byte and idle timeouts from one timer per request (cheaper than a timeout around
every read).
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import aiohttp
import httpx
import orjson

from gateway.backends.presets import normalise_base_url
from gateway.config import BackendConfig, Timeouts
from gateway.errors import GatewayError, Overloaded, UpstreamError, UpstreamTimeout
from gateway.upstream import tls
from gateway.upstream.errors import map_backend_error, unreachable

__all__ = ["Transport", "Upstream"]

Transport = Literal["aiohttp", "httpx"]
MAX_ERROR_BODY = 64 * 1024
MAX_JSON_BODY = 32 * 1024 * 1024


# Seconds an idle connection is kept. llama-server, LM Studio and vLLM close theirs after 5 s
# idle; a client that keeps one longer sends, now and then, on a connection the server is just
# closing. So local backends' are let go first; remote providers keep theirs for a minute or more.
LOCAL_KEEPALIVE = 4.0
REMOTE_KEEPALIVE = 30.0


class Upstream:
    """A backend's HTTP client. Create and close it on the event loop that uses it."""

    def __init__(
        self,
        backend: BackendConfig,
        timeouts: Timeouts,
        *,
        api_key: str | None = None,
        transport: Transport = "aiohttp",
        base_url: str | None = None,
        auth_header: str = "authorization",
        auth_scheme: str | None = "Bearer",
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        remote: bool = False,
    ) -> None:
        """`base_url` overrides `backend.url`; the key goes in `auth_header` (`auth_scheme` + " "
        + key, or the bare key when the scheme is None: Azure's `api-key`); `headers` and
        `params` (Azure's `api-version` query) go with every request. A `remote` provider's
        idle connections are kept longer (a new one costs a TLS handshake)."""
        self.backend = backend
        self.base_url = normalise_base_url(base_url or backend.url or "")
        self.timeouts = timeouts
        sent = {"accept-encoding": "identity", "user-agent": "lmgate", **(headers or {})}
        self._api_key = api_key
        if api_key:
            sent[auth_header] = f"{auth_scheme} {api_key}" if auth_scheme else api_key
        timeout = httpx.Timeout(connect=timeouts.connect, read=None, write=60.0, pool=None)
        limits = httpx.Limits(
            max_connections=64,
            max_keepalive_connections=16,
            keepalive_expiry=REMOTE_KEEPALIVE if remote else LOCAL_KEEPALIVE,
        )
        if transport == "aiohttp":
            from httpx_aiohttp import AiohttpTransport

            self.transport: httpx.AsyncBaseTransport = AiohttpTransport(
                verify=tls.for_url(self.base_url), limits=limits, trust_env=False
            )
            self.client = httpx.AsyncClient(
                transport=self.transport,
                timeout=timeout,
                headers=sent,
                params=dict(params or {}),
                trust_env=False,
            )
        else:
            self.transport = httpx.AsyncHTTPTransport(
                verify=tls.for_url(self.base_url), limits=limits, trust_env=False
            )
            self.client = httpx.AsyncClient(
                transport=self.transport,
                timeout=timeout,
                limits=limits,
                headers=sent,
                params=dict(params or {}),
                trust_env=False,
            )
        self._targets: dict[str, httpx.URL] = {}
        self._extensions = {"timeout": timeout.as_dict()}

    async def aclose(self) -> None:
        await self.client.aclose()

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    @asynccontextmanager
    async def chat(self, body: dict[str, Any]) -> AsyncIterator[httpx.Response]:
        """POST /chat/completions (see `post`)."""
        async with self.post(self.url("chat/completions"), body) as response:
            yield response

    @asynccontextmanager
    async def post(
        self,
        url: str,
        body: dict[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        retries: int = 0,
    ) -> AsyncIterator[httpx.Response]:
        """POST JSON; yields the response once its status is 2xx. A non-2xx answer raises the
        mapped GatewayError, an unreachable backend BackendUnavailable. Before the first byte,
        connection errors, 429 and 5xx are retried `retries` times (retry-after honoured, at
        most 10 s a wait)."""
        content = orjson.dumps(body)
        sent = {"content-type": "application/json", **(headers or {})}
        attempt = 0
        while True:
            try:
                response = await self._open(url, content, sent)
            except Overloaded as exc:
                if "loading" in exc.message.lower():
                    # A model being loaded is waited for; the relay's first-byte timeout bounds it.
                    await asyncio.sleep(1.0)
                    continue
                if attempt >= retries:
                    raise
                attempt += 1
                await asyncio.sleep(min(10.0, exc.retry_after or 0.5 * 2**attempt))
                continue
            except GatewayError as exc:
                transient = exc.retryable or exc.status == 503  # 503: could not connect
                if attempt >= retries or not transient:
                    raise
                attempt += 1
                await asyncio.sleep(min(10.0, exc.retry_after or 0.5 * 2**attempt))
                continue
            break
        try:
            yield response
        finally:
            await response.aclose()

    def _request(self, url: str, content: bytes, headers: dict[str, str]) -> httpx.Request:
        """What `client.build_request("POST", …)` builds, with the URL (base URL and query
        params merged) parsed once per path: 18 µs a request instead of 30, most of it parsing."""
        target = self._targets.get(url)
        if target is None:
            target = self.client.build_request("POST", url).url
            if len(self._targets) < 64:  # a handful of paths per backend; bounded all the same
                self._targets[url] = target
        merged = self.client.headers.copy()
        merged.update(headers)
        return httpx.Request(
            "POST", target, headers=merged, content=content, extensions=self._extensions
        )

    async def _open(self, url: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
        request = self._request(url, content, headers)
        try:
            # Straight to the transport: the client's redirect, auth and cookie handling cost
            # ~15% of the gateway's CPU per request, and a backend's POST must not be redirected.
            response = await self.transport.handle_async_request(request)
        except httpx.HTTPError as exc:
            if not _dropped_unanswered(exc):
                raise self.connect_failure(exc) from None
            # The backend closed the connection before a byte of an answer: a keep-alive
            # connection it closed just as it was reused (llama-server and LM Studio close idle
            # ones). Nothing was answered, so once more, on a fresh connection.
            try:
                response = await self.transport.handle_async_request(request)
            except httpx.HTTPError as again:
                raise self.connect_failure(again) from None
        if response.status_code < 300:
            return response
        try:
            body_bytes = await read_capped(response, MAX_ERROR_BODY)
        finally:
            await response.aclose()
        error = map_backend_error(
            response.status_code,
            body_bytes,
            backend=self.base_url,
            retry_after=_retry_after(response),
        )
        raise self.redacted(error)

    def redacted(self, error: GatewayError) -> GatewayError:
        """Some providers quote the key they refused: it never reaches a client, record or log."""
        key = self._api_key
        if key and key in error.message:
            error.message = error.message.replace(key, f"…{key[-4:]}" if len(key) > 12 else "…")
            error.args = (error.message,)
        return error

    @property
    def root_url(self) -> str:
        """The base URL without its trailing `/v1`: where Ollama's own /api lives."""
        return self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url

    async def list_models(self) -> list[dict[str, Any]]:
        """GET /models (OpenAI shape). Raises GatewayError when unreachable or not OpenAI-like."""
        try:
            response = await self.client.get(
                self.url("models"), timeout=httpx.Timeout(self.timeouts.connect, read=5.0)
            )
        except httpx.HTTPError as exc:
            raise self.connect_failure(exc) from None
        if response.status_code != 200:
            error = map_backend_error(response.status_code, response.content, backend=self.base_url)
            raise self.redacted(error)
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"{self.base_url}/models did not answer JSON") from None
        models = data.get("data") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise UpstreamError(f"{self.base_url}/models did not answer an OpenAI model list")
        return [m for m in models if isinstance(m, dict) and isinstance(m.get("id"), str)]

    def connect_failure(self, exc: httpx.HTTPError) -> GatewayError:
        """Why a request got no answer. httpx-aiohttp maps a refused connection to
        ConnectTimeout, so the cause decides, not the class alone."""
        cause = exc.__cause__
        if _dropped_unanswered(exc):
            return UpstreamError(
                f"the backend at {self.base_url} closed the connection without answering "
                f"({_reason(exc)})"
            )
        refused = isinstance(exc, httpx.ConnectError) or (
            isinstance(cause, aiohttp.ClientConnectorError)
            and not isinstance(cause, aiohttp.ServerTimeoutError)
        )
        if refused:
            return unreachable(self.base_url, _reason(exc))
        if isinstance(exc, httpx.TimeoutException):
            return UpstreamTimeout(
                f"the backend at {self.base_url} did not accept the connection within "
                f"{self.timeouts.connect:g} s"
            )
        return UpstreamError(f"the backend at {self.base_url} failed: {_reason(exc)}")


def _dropped_unanswered(exc: httpx.HTTPError) -> bool:
    """The connection was closed or reset before the answer's first byte (httpx-aiohttp reports
    aiohttp's ServerDisconnectedError as a ConnectTimeout: the cause decides)."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return True
    return isinstance(cause, aiohttp.ClientOSError) and cause.errno in (
        errno.ECONNRESET,
        errno.EPIPE,
    )


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """Read at most `limit` bytes of a body; a larger body is an error, never held whole."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            if limit == MAX_ERROR_BODY:
                chunks.append(chunk[: limit - (size - len(chunk))])
                break
            raise UpstreamError(
                f"the backend's answer is larger than {limit // (1024 * 1024)} MB; refused"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if not text or text.startswith("All connection attempts failed"):
        return "connection refused"
    if "Connect call failed" in text or "Cannot connect" in text:
        return "connection refused"
    return text.splitlines()[0][:200]
