"""Every GatewayError becomes the same answer wherever it is raised: before the commit an HTTP
answer with its class's status, type and retry headers; after it, an `event: error` of that type."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from gateway import errors
from gateway.api.connections import TooManyConnections
from gateway.api.error_answers import error_response, send_error
from gateway.api.framing import AmbiguousFraming
from gateway.errors import (
    GatewayError,
    MethodNotAllowed,
    PromptTooLong,
    UnsupportedMediaType,
    UpstreamError,
    for_status,
    status_of_type,
)
from tests.gateway.translate.grammar import parse_sse


def _classes() -> list[type[GatewayError]]:
    # Imported above, so the set is the same whatever ran first in this process.
    assert issubclass(AmbiguousFraming, GatewayError)
    assert issubclass(TooManyConnections, GatewayError)
    found: list[type[GatewayError]] = [GatewayError]
    for cls in found:
        found.extend(cls.__subclasses__())
    return found


CLASSES = _classes()
# What Claude Code reads from each: the status, the envelope's type and whether to retry.
EXPECTED = {
    "GatewayError": (500, "api_error", "true"),
    "InvalidRequest": (400, "invalid_request_error", "false"),
    "AmbiguousFraming": (400, "invalid_request_error", "false"),
    "PromptTooLong": (400, "invalid_request_error", "false"),
    "AuthenticationFailed": (401, "authentication_error", "false"),
    "PermissionDenied": (403, "permission_error", "false"),
    "NotFound": (404, "not_found_error", "false"),
    "ThreadNotFound": (404, "not_found_error", "false"),
    "MethodNotAllowed": (405, "invalid_request_error", "false"),
    "RequestTooLarge": (413, "request_too_large", "false"),
    "UnsupportedMediaType": (415, "invalid_request_error", "false"),
    "RateLimited": (429, "rate_limit_error", "true"),
    "UpstreamError": (502, "api_error", "true"),
    "BackendUnavailable": (503, "api_error", "false"),
    "UpstreamTimeout": (504, "api_error", "true"),
    "Overloaded": (529, "overloaded_error", "true"),
    "BackendBusy": (529, "overloaded_error", "true"),
    "TooManyConnections": (529, "overloaded_error", "true"),
}


def _make(cls: type[GatewayError], retry_after: float | None) -> GatewayError:
    if cls is PromptTooLong:
        return PromptTooLong(9000, 8192)
    return cls(f"{cls.__name__} happened", retry_after=retry_after)


# The error codes clients act on: the SDKs' thread helpers replay on `thread_not_found`.
DETAILS = {"ThreadNotFound": {"error_code": "thread_not_found"}}


def _error(kind: str, exc: GatewayError) -> dict[str, Any]:
    """The envelope's `error` the class must send: its type, its message, and its details."""
    error: dict[str, Any] = {"type": kind, "message": exc.message}
    if type(exc).__name__ in DETAILS:
        error["details"] = DETAILS[type(exc).__name__]
    return error


def _sent(exc: GatewayError, *, committed: bool) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        messages.append(message)

    asyncio.run(send_error(send, exc, "req_1", committed=committed))
    return messages


def test_the_table_names_every_class() -> None:
    assert sorted(c.__name__ for c in CLASSES) == sorted(EXPECTED)


@pytest.mark.parametrize("retry_after", [None, 2.5])
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_before_the_commit_an_error_is_an_http_answer_of_its_class(
    cls: type[GatewayError], retry_after: float | None
) -> None:
    status, kind, retry = EXPECTED[cls.__name__]
    exc = _make(cls, None if cls is PromptTooLong else retry_after)
    start, body = _sent(exc, committed=False)
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert start["status"] == status
    assert headers["content-type"] == "application/json"
    assert headers["request-id"] == "req_1"
    assert headers["x-should-retry"] == retry
    if cls is not PromptTooLong and retry_after is not None:
        assert headers["retry-after"] == "3"  # whole seconds, rounded up
    else:
        assert "retry-after" not in headers
    assert body["more_body"] is False
    assert orjson.loads(body["body"]) == {"type": "error", "error": _error(kind, exc)}
    # The Response a route returns says the same.
    response = error_response(exc, "req_1")
    assert response.status_code == status
    assert response.body == body["body"]
    assert response.headers["x-should-retry"] == retry
    assert response.headers["request-id"] == "req_1"
    assert response.headers.get("retry-after") == headers.get("retry-after")


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_after_the_commit_an_error_is_the_streams_last_event(cls: type[GatewayError]) -> None:
    _, kind, _ = EXPECTED[cls.__name__]
    exc = _make(cls, 1.0)
    (frame,) = _sent(exc, committed=True)
    assert frame["type"] == "http.response.body" and frame["more_body"] is False
    assert parse_sse(frame["body"]) == [("error", {"type": "error", "error": _error(kind, exc)})]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_a_backends_error_type_reads_back_as_the_first_class_of_that_type(
    cls: type[GatewayError],
) -> None:
    first = next(c for c in CLASSES if c.error_type == cls.error_type)
    assert status_of_type(cls.error_type) == first.status


def test_the_status_of_each_type_is_what_anthropic_sends_with_it() -> None:
    assert {t: status_of_type(t) for t in sorted({c.error_type for c in CLASSES})} == {
        "api_error": 500,
        "authentication_error": 401,
        "invalid_request_error": 400,
        "not_found_error": 404,
        "overloaded_error": 529,
        "permission_error": 403,
        "rate_limit_error": 429,
        "request_too_large": 413,
    }
    assert status_of_type("no_such_error") == 500


@pytest.mark.parametrize(
    ("status", "cls", "kind"),
    [
        (400, errors.InvalidRequest, "invalid_request_error"),
        (404, errors.NotFound, "not_found_error"),
        (405, MethodNotAllowed, "invalid_request_error"),
        (413, errors.RequestTooLarge, "request_too_large"),
        (415, UnsupportedMediaType, "invalid_request_error"),
        (429, errors.RateLimited, "rate_limit_error"),
        (529, errors.Overloaded, "overloaded_error"),
        (418, GatewayError, "api_error"),
    ],
)
def test_for_status_picks_the_class_that_answers_with_it(
    status: int, cls: type[GatewayError], kind: str
) -> None:
    error = for_status(status, "said so")
    assert type(error) is cls
    assert (error.status, error.error_type, error.message) == (status, kind, "said so")


def test_an_upstream_errors_own_status_is_kept() -> None:
    (start, _) = _sent(UpstreamError("bad gateway", status=500), committed=False)
    assert start["status"] == 500
