"""Backend errors in our taxonomy: every way a backend words a context overflow becomes the one
wording Claude Code compacts on."""

from __future__ import annotations

import orjson
import pytest

from gateway.errors import (
    AuthenticationFailed,
    InvalidRequest,
    NotFound,
    Overloaded,
    PromptTooLong,
    RateLimited,
    UpstreamError,
)
from gateway.upstream.errors import map_backend_error, unreachable

B = "http://127.0.0.1:1234/v1"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        # OpenAI / vLLM
        (
            400,
            {
                "error": {
                    "message": "This model's maximum context length is 8192 tokens. However, your "
                    "messages resulted in 9000 tokens. Please reduce the length of the messages.",
                    "type": "invalid_request_error",
                    "code": "context_length_exceeded",
                }
            },
            "prompt is too long: 9000 tokens > 8192 maximum",
        ),
        # llama.cpp server
        (
            400,
            {
                "error": {
                    "code": 400,
                    "message": "the request exceeds the available context size, try increasing it",
                    "type": "exceed_context_size_error",
                    "n_prompt_tokens": 40000,
                    "n_ctx": 32768,
                }
            },
            "prompt is too long: 40000 tokens > 32768 maximum",
        ),
        # LM Studio: a 500 that the SDK would otherwise retry for minutes
        (
            500,
            {
                "error": "Trying to keep the first 25000 tokens when context the overflows. "
                "However, the model is loaded with context length of only 4096 tokens, which is "
                "not enough. Try to load the model with a larger context length, or provide a "
                "shorter input"
            },
            "prompt is too long: 25000 tokens > 4096 maximum",
        ),
    ],
)
def test_context_overflow_is_prompt_too_long(status: int, body: object, message: str) -> None:
    error = map_backend_error(status, orjson.dumps(body), backend=B)
    assert isinstance(error, PromptTooLong)
    assert error.status == 400 and error.message == message
    assert error.headers()["x-should-retry"] == "false"


def test_overflow_without_numbers_still_starts_with_the_wording() -> None:
    body = b'{"error":{"message":"context window exceeded"}}'
    error = map_backend_error(400, body, backend=B)
    assert error.message.startswith("prompt is too long")


@pytest.mark.parametrize(
    ("status", "kind", "retry"),
    [
        (400, InvalidRequest, "false"),
        (401, AuthenticationFailed, "false"),
        (404, NotFound, "false"),
        (429, RateLimited, "true"),
        (503, Overloaded, "true"),
        (500, UpstreamError, "true"),
        (502, UpstreamError, "true"),
    ],
)
def test_status_mapping_keeps_the_backend_message(status: int, kind: type, retry: str) -> None:
    error = map_backend_error(status, b'{"error":{"message":"model exploded"}}', backend=B)
    assert isinstance(error, kind)
    assert "model exploded" in error.message and B in error.message
    assert error.headers()["x-should-retry"] == retry


def test_retry_after_is_whole_seconds() -> None:
    error = map_backend_error(429, b"{}", backend=B, retry_after=2.2)
    assert error.headers()["retry-after"] == "3"


def test_html_error_page_is_summarised() -> None:
    body = (
        b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
    )
    error = map_backend_error(502, body, backend=B)
    assert "Bad Gateway" in error.message and "<" not in error.message


def test_error_body_is_anthropic_envelope() -> None:
    error = map_backend_error(404, b'{"error":"model not found"}', backend=B)
    assert orjson.loads(error.body()) == {
        "type": "error",
        "error": {"type": "not_found_error", "message": f"{B} answered HTTP 404: model not found"},
    }


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("http://127.0.0.1:1234/v1", "LM Studio"),
        ("http://127.0.0.1:11434/v1", "ollama serve"),
        ("http://127.0.0.1:8080/v1", "llama-server"),
        ("http://127.0.0.1:9999/v1", "start the server"),
    ],
)
def test_unreachable_names_url_and_what_to_start(url: str, hint: str) -> None:
    error = unreachable(url, "connection refused")
    assert error.status == 503 and url in error.message and hint in error.message
    assert error.headers()["x-should-retry"] == "false"
