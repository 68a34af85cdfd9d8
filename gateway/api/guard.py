"""The gateway is a security boundary: refuse what a web page could forge, and check the token.

A browser page can make the user's browser send requests to 127.0.0.1 (DNS rebinding changes the
Host; a cross-site fetch or form carries an Origin or a non-JSON content type). Claude Code sends
none of those; it does send `anthropic-dangerous-direct-browser-access: true`, which is the SDK's
opt-in flag and not a browser signal, so it is ignored here. OPTIONS gets no CORS headers.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from gateway.api.error_answers import send_error
from gateway.api.framing import ambiguous_framing
from gateway.api.record import new_id
from gateway.errors import (
    AuthenticationFailed,
    GatewayError,
    PermissionDenied,
    RequestTooLarge,
    UnsupportedMediaType,
)
from gateway.team.clients import Client
from gateway.team.gate import CLIENT_SCOPE_KEY, Team

__all__ = ["Guard", "Refusal", "host_name"]

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
# Told of every refused request (the scope, the error, the request id it was answered with), so
# that a refusal shows in the request log like any other answer.
Refusal = Callable[[dict[str, Any], GatewayError, str], None]
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
# Asked for by the operator (a scraper, a health check), not by a team's clients.
_OPERATOR_PATHS = frozenset({"/metrics", "/health"})


def host_name(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end != -1 else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        bind_host: str,
        allowed_hosts: Iterable[str],
        token: Callable[[], str | None],
        max_body_bytes: int,
        fast_posts: dict[str, ASGIApp] | None = None,
        on_refused: Refusal | None = None,
        team: Team | None = None,
    ) -> None:
        self.app = app
        # Client keys, their limits and /metrics' key (gateway/team/gate.py).
        self.team = team
        self.on_refused = on_refused
        # The hot POST endpoints, served without the router's layers (they cost ~15% of a small
        # request); the same handlers are declared as FastAPI routes for the OpenAPI schema.
        self.fast_posts = fast_posts or {}
        names = {h.lower() for h in allowed_hosts} | _LOOPBACK
        if bind_host not in ("0.0.0.0", "::", ""):
            names.add(bind_host.lower())
            if ":" in bind_host and not bind_host.startswith("["):
                names.add(f"[{bind_host.lower()}]")
        self.allowed = frozenset(names)
        self.token = token
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self.check(scope)
        fast = self.fast_posts.get(scope["path"]) if scope["method"] == "POST" else None
        if problem is None and self.team is not None and scope["path"] == "/v1/messages":
            client = scope.get(CLIENT_SCOPE_KEY)
            if client is not None:
                try:
                    await self.team.admit(client)
                except GatewayError as exc:
                    problem = exc
        if problem is not None:
            request_id = new_id("req_")
            await send_error(send, problem, request_id)
            if self.on_refused is not None:
                self.on_refused(scope, problem, request_id)
            return
        await (fast or self.app)(scope, receive, send)

    def check(self, scope: dict[str, Any]) -> GatewayError | None:
        # First: with two Hosts, which one the checks below read would decide what they pass.
        ambiguous = ambiguous_framing(scope["headers"])
        if ambiguous is not None:
            return ambiguous
        host = origin = fetch_site = content_type = key = bearer = length = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
            elif name == b"sec-fetch-site":
                fetch_site = value
            elif name == b"content-type":
                content_type = value
            elif name == b"x-api-key":
                key = value
            elif name == b"authorization":
                bearer = value
            elif name == b"content-length":
                length = value
        if host is None or host_name(host.decode("latin-1")) not in self.allowed:
            return PermissionDenied(
                "the Host header names a host this gateway does not serve; add it to "
                "allowed_hosts in the config if you reach the gateway through that name"
            )
        if origin is not None:
            return PermissionDenied("requests from web pages (with an Origin header) are refused")
        if fetch_site is not None and fetch_site.lower() in (b"cross-site", b"same-site"):
            return PermissionDenied("cross-site requests from web pages are refused")
        method = scope["method"]
        if method == "OPTIONS":
            return PermissionDenied("CORS preflight requests are refused")
        given = key
        if given is None and bearer is not None and bearer[:7].lower() == b"bearer ":
            given = bearer[7:].strip()
        team = self.team
        client = team.identify(given) if team is not None else None
        if scope["path"] in _OPERATOR_PATHS:
            return self._operator_key(given, client, scope["path"])
        if client is not None:
            scope[CLIENT_SCOPE_KEY] = client
        elif team is not None and team.enforced():
            return team.refusal()
        else:
            try:
                expected = self.token()
            except GatewayError as exc:  # the token is not known yet (still read from the keyring)
                return exc
            if expected and (given is None or not hmac.compare_digest(given, expected.encode())):
                return _token_refusal()
        if method == "POST":
            media = (content_type or b"").split(b";", 1)[0].strip().lower()
            if media != b"application/json":
                return UnsupportedMediaType("POST bodies must be sent as application/json")
            if length is not None:
                try:
                    size = int(length)
                except ValueError:
                    size = 0
                if size > self.max_body_bytes:
                    return RequestTooLarge(_too_large(self.max_body_bytes))
        return None

    def _operator_key(
        self, given: bytes | None, client: Client | None, path: str
    ) -> GatewayError | None:
        """/metrics wants the gateway token or an admin client key, always. /health wants what
        any request wants, or the gateway token even where client keys are required (a
        container's health check is the operator's)."""
        if client is not None and (client.admin or path == "/health"):
            return None
        try:
            expected = self.token()
        except GatewayError as exc:
            return exc
        if expected and given is not None and hmac.compare_digest(given, expected.encode()):
            return None
        if path == "/health":
            if self.team is not None and self.team.enforced():
                return self.team.refusal()
            return _token_refusal() if expected else None
        return AuthenticationFailed(
            "/metrics needs the gateway token or an admin client key (`lmgate clients add NAME "
            "--admin`), as x-api-key or 'Authorization: Bearer …'"
        )


def _token_refusal() -> AuthenticationFailed:
    return AuthenticationFailed(
        "invalid or missing gateway token: send it as x-api-key or "
        "'Authorization: Bearer …' (`lmgate token` prints it)"
    )


def _too_large(limit: int) -> str:
    return f"the request body is larger than the gateway's limit of {limit // (1024 * 1024)} MB"


async def read_body(receive: Any, limit: int) -> bytes:
    """Read the whole body, refusing (413) as soon as it passes `limit`: chunked bodies too."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(_too_large(limit))
        parts.append(chunk)
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 else b"".join(parts)
