"""One error hierarchy for the gateway, mapped once to Anthropic's error envelope.

    GatewayError                      api_error            500
    ├── InvalidRequest                invalid_request_error 400
    │   └── PromptTooLong             invalid_request_error 400  ("prompt is too long: …")
    ├── AuthenticationFailed          authentication_error 401
    ├── PermissionDenied              permission_error     403
    ├── NotFound                      not_found_error      404
    │   └── ThreadNotFound            not_found_error      404  (details.error_code: replay)
    ├── MethodNotAllowed              invalid_request_error 405
    ├── RequestTooLarge               request_too_large    413
    ├── UnsupportedMediaType          invalid_request_error 415
    ├── RateLimited                   rate_limit_error     429  (retry-after)
    ├── UpstreamError                 api_error            500/502 (the backend's own message)
    ├── BackendUnavailable            api_error            503  (names the URL and what to start)
    ├── UpstreamTimeout               api_error            504
    └── Overloaded                    overloaded_error     529  (retry-after)
        └── BackendBusy               overloaded_error     529  (the gateway's own queue is full)

Claude Code reads `x-should-retry` and `retry-after`, and matches on error wording: a context
overflow must start with "prompt is too long" or it will not compact. The classes are the only
status ↔ type table: `status_of_type` reads a backend's error type back into a status, and
`for_status` picks the class for a status; gateway/api/error_answers.py sends them.
"""

from __future__ import annotations

import orjson

__all__ = [
    "AuthenticationFailed",
    "BackendBusy",
    "BackendUnavailable",
    "GatewayError",
    "InvalidRequest",
    "MethodNotAllowed",
    "NotFound",
    "Overloaded",
    "PermissionDenied",
    "PromptTooLong",
    "RateLimited",
    "RequestTooLarge",
    "ThreadNotFound",
    "UnsupportedMediaType",
    "UpstreamError",
    "UpstreamTimeout",
    "error_body",
    "for_status",
    "status_of_type",
]


class GatewayError(Exception):
    """Base class; `status`, `error_type` and `retryable` decide the HTTP answer."""

    status: int = 500
    error_type: str = "api_error"
    retryable: bool = True
    # The envelope's `error.details` (an `error_code` clients act on), in both the HTTP answer
    # and the `event: error` form; None: no details.
    details: dict[str, str] | None = None

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def error(self) -> dict[str, object]:
        """The envelope's `error` object."""
        error: dict[str, object] = {"type": self.error_type, "message": self.message}
        if self.details is not None:
            error["details"] = dict(self.details)
        return error

    def body(self) -> bytes:
        return orjson.dumps({"type": "error", "error": self.error()})

    def headers(self) -> dict[str, str]:
        headers = {"x-should-retry": "true" if self.retryable else "false"}
        if self.retry_after is not None:
            headers["retry-after"] = str(max(1, int(-(-self.retry_after // 1))))
        return headers

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.message!r})"


class InvalidRequest(GatewayError):
    status = 400
    error_type = "invalid_request_error"
    retryable = False


class PromptTooLong(InvalidRequest):
    """A context overflow, worded the one way Claude Code recognises."""

    def __init__(
        self, tokens: int | None = None, maximum: int | None = None, detail: str = ""
    ) -> None:
        if tokens is not None and maximum is not None:
            message = f"prompt is too long: {tokens} tokens > {maximum} maximum"
        else:
            message = "prompt is too long" + (f": {detail}" if detail else "")
        super().__init__(message)
        self.tokens = tokens
        self.maximum = maximum


class AuthenticationFailed(GatewayError):
    status = 401
    error_type = "authentication_error"
    retryable = False


class PermissionDenied(GatewayError):
    status = 403
    error_type = "permission_error"
    retryable = False


class NotFound(GatewayError):
    status = 404
    error_type = "not_found_error"
    retryable = False


THREAD_NOT_FOUND = (
    "No thread state was found for the requested `previous_message_id`. Replay the full "
    'conversation with thread: {"type": "create"} to start a new Thread.'
)


class ThreadNotFound(NotFound):
    """A `continue` whose thread is unknown or expired. The SDKs' thread helpers and Claude Code
    replay the whole conversation under a new thread on exactly this `error_code`."""

    def __init__(
        self, message: str = THREAD_NOT_FOUND, *, retry_after: float | None = None
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.details = {"error_code": "thread_not_found"}


class MethodNotAllowed(GatewayError):
    status = 405
    error_type = "invalid_request_error"
    retryable = False


class RequestTooLarge(GatewayError):
    status = 413
    error_type = "request_too_large"
    retryable = False

    def headers(self) -> dict[str, str]:
        # Close the connection: otherwise the server goes on reading (and dropping) the rest of
        # an oversized body that the client is still sending.
        return {**super().headers(), "connection": "close"}


class UnsupportedMediaType(GatewayError):
    status = 415
    error_type = "invalid_request_error"
    retryable = False


class RateLimited(GatewayError):
    status = 429
    error_type = "rate_limit_error"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        limits: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        # The anthropic-ratelimit-* headers of a client key's limit (gateway/team/limits.py).
        self.limits = limits or {}

    def headers(self) -> dict[str, str]:
        return {**super().headers(), **self.limits}


class UpstreamError(GatewayError):
    """The backend failed; its own message is kept. `status` is set per instance."""

    def __init__(
        self, message: str, *, status: int = 502, retry_after: float | None = None
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status


class BackendUnavailable(GatewayError):
    status = 503
    retryable = False


class UpstreamTimeout(GatewayError):
    status = 504


class Overloaded(GatewayError):
    status = 529
    error_type = "overloaded_error"


class BackendBusy(Overloaded):
    """The gateway's queue for a backend is full: the backend is busy, not failing (its breaker
    does not count it; another backend serving the model may take the request)."""


def error_body(error_type: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})


def _tree() -> list[type[GatewayError]]:
    """Every class of the hierarchy, parents before children, in the order they are declared."""
    out: list[type[GatewayError]] = [GatewayError]
    for cls in out:
        out.extend(cls.__subclasses__())
    return out


# The first class declared for a type (or a status) speaks for it: api_error is 500 (the base),
# invalid_request_error 400 (InvalidRequest, not UnsupportedMediaType).
_CLASS_OF_STATUS: dict[int, type[GatewayError]] = {}
_STATUS_OF_TYPE: dict[str, int] = {}
for _cls in sorted(_tree(), key=lambda c: c.__mro__.index(GatewayError)):
    _CLASS_OF_STATUS.setdefault(_cls.status, _cls)
    _STATUS_OF_TYPE.setdefault(_cls.error_type, _cls.status)


def status_of_type(error_type: str) -> int:
    """The status that goes with an Anthropic error type (500 for one not known)."""
    return _STATUS_OF_TYPE.get(error_type, 500)


def for_status(status: int, message: str) -> GatewayError:
    """The error of the class that answers with `status`; a status no class has keeps the base
    class's type (api_error) with that status."""
    cls = _CLASS_OF_STATUS.get(status, GatewayError)
    error = cls(message)
    error.status = status
    return error
