"""The bus: every subscriber gets what is published, until it unsubscribes; a failing one is
logged and the others still run."""

from __future__ import annotations

import logging

import pytest

from gateway.events import Bus


def test_subscribers_get_each_item_until_they_unsubscribe() -> None:
    bus: Bus[int] = Bus("number")
    first: list[int] = []
    second: list[int] = []
    unsubscribe = bus.subscribe(first.append)
    bus.subscribe(second.append)
    bus.publish(1)
    unsubscribe()
    bus.publish(2)
    assert (first, second) == ([1], [1, 2])


def test_a_failing_subscriber_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus: Bus[int] = Bus("number", "lmgate.test")
    got: list[int] = []

    def broken(_: int) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    bus.subscribe(got.append)
    with caplog.at_level(logging.ERROR, logger="lmgate.test"):
        bus.publish(7)
    assert got == [7]
    assert [r.getMessage() for r in caplog.records] == ["a number subscriber failed"]
