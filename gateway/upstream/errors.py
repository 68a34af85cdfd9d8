"""A backend's failure, however it words it, as one of the gateway's errors.

Context overflows must reach Claude Code as 400 "prompt is too long: N tokens > M maximum": it is
the only wording on which it compacts. Backends word them differently:
  OpenAI / vLLM   400 code=context_length_exceeded, "maximum context length is M tokens. However,
                  your messages resulted in N tokens"
  llama.cpp       400 type=exceed_context_size_error, n_prompt_tokens / n_ctx fields,
                  "the request exceeds the available context size, try increasing it"
  LM Studio       500 "… the model is loaded with context length of only M tokens …" (a 500 that
                  the SDK would retry for minutes)
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import orjson

from gateway.errors import (
    AuthenticationFailed,
    BackendUnavailable,
    GatewayError,
    InvalidRequest,
    NotFound,
    Overloaded,
    PermissionDenied,
    PromptTooLong,
    RateLimited,
    RequestTooLarge,
    UpstreamError,
)

__all__ = ["map_backend_error", "unreachable", "backend_message"]

_OVERFLOW = re.compile(
    r"context[ _-]?(length|size|window)|maximum context|prompt is too long|too many tokens"
    r"|exceeds? the (available )?context",
    re.IGNORECASE,
)
_MAX_PATTERNS = (
    re.compile(r"context length of only (\d+)", re.I),
    re.compile(r"maximum context length is (\d+)", re.I),
    re.compile(r"context (?:size|window|length)(?: is| of)? (\d+)", re.I),
)
_TOKENS_PATTERNS = (
    re.compile(r"resulted in (\d+) tokens", re.I),
    re.compile(r"requested (\d+) tokens", re.I),
    re.compile(r"keep the first (\d+) tokens", re.I),
    re.compile(r"prompt (?:has|of|is) (\d+) tokens", re.I),
    re.compile(r"(\d+) tokens > \d+", re.I),
)


def backend_message(body: bytes) -> tuple[str, dict[str, Any]]:
    """The human message in a backend's error body, and the error object when it is JSON."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = re.sub(r"<[^>]+>", " ", body[:2000].decode("utf-8", "replace"))
        return " ".join(text.split())[:300] or "(empty body)", {}
    error: Any = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(error, str):
        return error, data if isinstance(data, dict) else {}
    if isinstance(error, dict):
        message = error.get("message") or error.get("detail") or error.get("msg")
        if isinstance(message, str):
            return message, error
        return orjson.dumps(error).decode()[:300], error
    return str(error)[:300], {}


def map_backend_error(
    status: int, body: bytes, *, backend: str, retry_after: float | None = None
) -> GatewayError:
    message, error = backend_message(body)
    overflow = _overflow(message, error)
    if overflow is not None and status in (400, 413, 422, 500):
        return overflow
    where = f"{backend} answered HTTP {status}: {message}"
    if status == 400 or status == 422:
        return InvalidRequest(where)
    if status == 401:
        return AuthenticationFailed(f"{where} (check the API key set for this backend)")
    if status == 403:
        return PermissionDenied(where)
    if status == 404:
        return NotFound(where)
    if status == 413:
        return RequestTooLarge(where)
    if status == 429:
        return RateLimited(where, retry_after=retry_after if retry_after is not None else 1)
    if status in (503, 529):
        return Overloaded(where, retry_after=retry_after if retry_after is not None else 1)
    if 400 <= status < 500:
        return InvalidRequest(where)
    return UpstreamError(where, status=500 if status == 500 else 502, retry_after=retry_after)


def _overflow(message: str, error: dict[str, Any]) -> PromptTooLong | None:
    code = str(error.get("code", "")) + " " + str(error.get("type", ""))
    if not (
        _OVERFLOW.search(message) or "context_length_exceeded" in code or "exceed_context" in code
    ):
        return None
    tokens = _int(error.get("n_prompt_tokens")) or _first(_TOKENS_PATTERNS, message)
    maximum = _int(error.get("n_ctx")) or _first(_MAX_PATTERNS, message)
    if tokens is not None and maximum is not None:
        return PromptTooLong(tokens, maximum)
    return PromptTooLong(detail=message)


def _first(patterns: tuple[re.Pattern[str], ...], text: str) -> int | None:
    for pattern in patterns:
        if m := pattern.search(text):
            return int(m.group(1))
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


_WHAT_TO_START = {
    1234: "start LM Studio's local server (Developer tab → Start Server, or `lms server start`)",
    11434: "start Ollama (`ollama serve`, or open the Ollama app)",
    8080: "start llama.cpp's server (`llama-server -m MODEL.gguf --port 8080 --jinja`)",
    8000: "start the vLLM server (`vllm serve MODEL --port 8000`)",
}


def unreachable(url: str, reason: str) -> BackendUnavailable:
    port = urlsplit(url).port
    hint = _WHAT_TO_START.get(port or 0, "start the server, or point LM Gate at another backend")
    return BackendUnavailable(f"cannot reach the backend at {url} ({reason}): {hint}")
