"""The in-process router: least busy first among replicas, breakers skip a backend, and an open
breaker everywhere still leaves something to try. The clock is the test's."""

from __future__ import annotations

from gateway.candidates import Choice
from gateway.config import BreakerConfig
from gateway.router import MemoryRouter

A, B, C = Choice("a", "m"), Choice("b", "m"), Choice("c", "other")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_replicas_least_busy_first_targets_in_order() -> None:
    router = MemoryRouter(clock=Clock())
    assert router.order([(A, B), (C,)]) == ([A, B, C], [])
    router.begin("a")
    assert router.order([(A, B), (C,)]) == ([B, A, C], [])
    router.begin("b")
    router.begin("b")
    assert router.order([(A, B), (C,)]) == ([A, B, C], [])
    # Busy or not, a later target stays later.
    router.begin("c")
    router.end("a", "ok")
    assert router.order([(A, B), (C,)]) == ([A, B, C], [])
    assert (router.in_flight("a"), router.in_flight("b"), router.in_flight("c")) == (0, 2, 1)


def test_an_open_breaker_is_skipped_then_probed() -> None:
    clock = Clock()
    router = MemoryRouter(BreakerConfig(failures=2, cooldown=5), clock=clock)
    for _ in range(2):
        router.begin("a")
        router.end("a", "failed")
    assert router.breaker("a") == "open"
    assert router.order([(A,), (C,)]) == ([C], [A])
    clock.now = 5
    assert router.order([(A,), (C,)]) == ([A, C], [])
    router.begin("a")  # the probe
    assert router.order([(A,), (C,)]) == ([C], [A])
    router.end("a", "ok")
    assert router.breaker("a") == "closed"


def test_neutral_answers_do_not_count() -> None:
    router = MemoryRouter(BreakerConfig(failures=1), clock=Clock())
    router.begin("a")
    router.end("a", "neutral")
    assert router.breaker("a") == "closed"


def test_every_breaker_open_tries_them_all() -> None:
    router = MemoryRouter(BreakerConfig(failures=1), clock=Clock())
    for backend in ("a", "c"):
        router.begin(backend)
        router.end(backend, "failed")
    assert router.order([(A,), (C,)]) == ([A, C], [])
