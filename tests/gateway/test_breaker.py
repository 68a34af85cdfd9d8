"""The circuit breaker as a table: events at given times in, the state after each out."""

from __future__ import annotations

import pytest

from gateway.breaker import Breaker

# (event, time) … → the status and whether a request may go after each event.
CASES = {
    "failures below the threshold keep it closed": (
        [("fail", 0), ("fail", 1)],
        [("closed", True), ("closed", True)],
    ),
    "a success resets the count": (
        [("fail", 0), ("fail", 1), ("ok", 2), ("fail", 3), ("fail", 4)],
        [("closed", True)] * 5,
    ),
    "three in a row open it": (
        [("fail", 0), ("fail", 1), ("fail", 2)],
        [("closed", True), ("closed", True), ("open", False)],
    ),
    "open until the cooldown, then half-open": (
        [("fail", 0), ("fail", 0), ("fail", 0), ("tick", 9.9), ("tick", 10.0)],
        [("closed", True), ("closed", True), ("open", False), ("open", False), ("half-open", True)],
    ),
    "one probe at a time": (
        [("fail", 0), ("fail", 0), ("fail", 0), ("try", 10), ("tick", 11)],
        [
            ("closed", True),
            ("closed", True),
            ("open", False),
            ("half-open", False),
            ("half-open", False),
        ],
    ),
    "a good probe closes it": (
        [("fail", 0), ("fail", 0), ("fail", 0), ("try", 10), ("ok", 11)],
        [
            ("closed", True),
            ("closed", True),
            ("open", False),
            ("half-open", False),
            ("closed", True),
        ],
    ),
    "a failed probe opens it for another cooldown": (
        [
            ("fail", 0),
            ("fail", 0),
            ("fail", 0),
            ("try", 10),
            ("fail", 11),
            ("tick", 20.9),
            ("tick", 21),
        ],
        [
            ("closed", True),
            ("closed", True),
            ("open", False),
            ("half-open", False),
            ("open", False),
            ("open", False),
            ("half-open", True),
        ],
    ),
    "a probe the client abandoned frees the probe": (
        [("fail", 0), ("fail", 0), ("fail", 0), ("try", 10), ("abandon", 11)],
        [
            ("closed", True),
            ("closed", True),
            ("open", False),
            ("half-open", False),
            ("half-open", True),
        ],
    ),
}


@pytest.mark.parametrize(("events", "expected"), list(CASES.values()), ids=list(CASES))
def test_breaker(events: list[tuple[str, float]], expected: list[tuple[str, bool]]) -> None:
    breaker = Breaker(failures=3, cooldown=10)
    seen = []
    for event, now in events:
        if event == "fail":
            breaker = breaker.on_failure(now)
        elif event == "ok":
            breaker = breaker.on_success(now)
        elif event == "try":
            breaker = breaker.on_attempt(now)
        elif event == "abandon":
            breaker = breaker.on_abandon(now)
        seen.append((breaker.status(now), breaker.allows(now)))
    assert seen == expected
