"""Tool-call arguments: clean JSON, light repairs, and the raw string when nothing reads it."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.translate.arguments import parse_arguments


@pytest.mark.parametrize(
    ("raw", "expected", "note"),
    [
        (None, {}, None),
        ("", {}, None),
        ("  ", {}, None),
        ('{"command": "ls"}', {"command": "ls"}, None),
        ('{"a": [1, 2,], "b": {"c": 3,},}', {"a": [1, 2], "b": {"c": 3}}, "repaired"),
        ('```json\n{"a": 1}\n```', {"a": 1}, "repaired"),
        ('"{\\"a\\": 1}"', {"a": 1}, "decoded twice"),
        ('{"a": ', {"_raw_arguments": '{"a": '}, "unreadable"),
        ("[1, 2]", {"_raw_arguments": "[1, 2]"}, "unreadable"),
        ('"just text"', {"_raw_arguments": '"just text"'}, "unreadable"),
    ],
)
def test_parse_arguments(raw: str | None, expected: dict[str, Any], note: str | None) -> None:
    assert parse_arguments(raw) == (expected, note)
