"""The one place a GatewayError becomes an answer: HTTP before the response is committed, an
`event: error` after it; status, type and headers come from its class in gateway/errors.py."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Send

from gateway.errors import GatewayError
from gateway.translate.sse import encode

__all__ = ["error_response", "send_error"]

_JSON = (b"content-type", b"application/json")


def _headers(exc: GatewayError, request_id: str | None) -> list[tuple[bytes, bytes]]:
    headers = [_JSON]
    if request_id is not None:
        headers.append((b"request-id", request_id.encode()))
    # x-should-retry always, retry-after when known: Claude Code's retry logic reads both.
    headers += [(k.encode(), v.encode()) for k, v in exc.headers().items()]
    return headers


async def send_error(
    send: Send, exc: GatewayError, request_id: str | None, *, committed: bool = False
) -> None:
    """Answer with `exc` on a raw ASGI `send`. Once committed (a 200 and events already sent),
    the status can no longer change: the error goes as the stream's last event, same type and
    wording."""
    if committed:
        frame = encode([("error", {"type": "error", "error": exc.error()})])
        await send({"type": "http.response.body", "body": frame, "more_body": False})
        return
    headers = _headers(exc, request_id)
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": exc.body(), "more_body": False})


def error_response(exc: GatewayError, request_id: str | None = None) -> Response:
    """`exc` as the Response a route or an exception handler returns (before any commit)."""
    headers = exc.headers()
    if request_id is not None:
        headers["request-id"] = request_id
    return Response(
        exc.body(), status_code=exc.status, media_type="application/json", headers=headers
    )
