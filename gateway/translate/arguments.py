"""Tool-call arguments from a backend (a JSON string, sometimes malformed) as a tool_use input."""

from __future__ import annotations

import re
from typing import Any

import orjson

__all__ = ["RAW_KEY", "parse_arguments"]

# Where arguments that no light repair can read are kept, so the tool sees them and fails loudly.
RAW_KEY = "_raw_arguments"

_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_FENCE = re.compile(r"^```[a-zA-Z]*\s*(.*?)\s*```$", re.DOTALL)


def parse_arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    """Return (input, note): note is None for clean JSON, else what was done to read it."""
    if isinstance(raw, dict):
        return raw, None  # some servers send the arguments as an object, not a JSON string
    if not isinstance(raw, str) or not raw.strip():
        return {}, None
    try:
        value = orjson.loads(raw)
        note = None
    except orjson.JSONDecodeError:
        value = _repair(raw)
        note = "repaired"
    if isinstance(value, str):
        # Some small models encode the arguments object twice.
        try:
            value = orjson.loads(value)
            note = "decoded twice"
        except orjson.JSONDecodeError:
            pass
    if isinstance(value, dict):
        return value, note
    return {RAW_KEY: raw}, "unreadable"


def _repair(raw: str) -> Any:
    text = raw.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    text = _TRAILING_COMMA.sub(r"\1", text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
