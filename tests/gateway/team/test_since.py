"""`lmgate usage --since`: spans, today, and dates."""

from __future__ import annotations

import pytest

from gateway.team.commands import parse_since

NOW = 1_780_000_000.0  # 2026-05-28T20:26:40Z


def test_spans_today_and_dates() -> None:
    assert parse_since("30m", NOW) == NOW - 1800
    assert parse_since("24h", NOW) == NOW - 86_400
    assert parse_since("7d", NOW) == NOW - 7 * 86_400
    assert parse_since("today", NOW) == 1_779_926_400.0
    assert parse_since("2026-05-28", NOW) == 1_779_926_400.0
    assert parse_since("2026-05-28T20:00Z", NOW) == 1_779_998_400.0
    assert parse_since("2026-05-28T22:00+02:00", NOW) == 1_779_998_400.0


def test_anything_else_says_what_it_takes() -> None:
    with pytest.raises(ValueError, match="30m, 24h, 7d, today"):
        parse_since("yesterday", NOW)
