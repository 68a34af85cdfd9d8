"""The request bodies Claude Code 2.1.197 really sent (tests/fixtures/claude-code), to translate."""

from __future__ import annotations

import orjson

from gateway.schemas.anthropic import MessagesRequest, parse_messages_request
from tests.paths import fixture_names, load_fixture

__all__ = ["fixture_names", "fixture_request"]


def fixture_request(name: str) -> MessagesRequest:
    body = load_fixture(name)["body"]
    # The count_tokens body has no max_tokens; its conversation is still worth translating.
    body.setdefault("max_tokens", 1024)
    return parse_messages_request(orjson.dumps(body))
