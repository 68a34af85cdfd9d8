"""How the suite runs on pytest-xdist workers: how many, and which tests run with nothing beside."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from _pytest.mark.expression import Expression
from xdist.scheduler import LoadScopeScheduling

__all__ = ["LOCKS_VARIABLE", "TOGETHER", "RunLock", "Scheduling", "run_lock", "selects", "workers"]

# The live suite's one real server and the benchmark's measurements need the machine to
# themselves: run serially when the selection can include them.
ALONE = ("live", "bench")
# The folder of one parallel run's lock files, made by the controlling process for its workers.
LOCKS_VARIABLE = "LMGATE_TEST_RUN_LOCKS"
# Test files whose tests share one costly session fixture (the PyInstaller build): one worker
# runs them all, so the other never waits on the build's lock. By file, not by `xdist_group`
# mark: pytest 9.2's node ids no longer carry the mark's group to the scheduler
# (pytest-xdist issue 1386).
TOGETHER = ("tests/packaging/test_frozen.py",)


def workers(markexpr: str, cores: int | None = None) -> int:
    """Workers for `pytest -m markexpr`: 0 (run in this process) or one per core."""
    if sys.platform == "win32":
        return 0  # RunLock needs flock
    if any(selects(markexpr, marker) for marker in ALONE):
        return 0
    return cores or os.cpu_count() or 1


def selects(markexpr: str, marker: str) -> bool:
    """Whether `-m markexpr` can pick a test that carries `marker` and no other mark."""
    if not markexpr.strip():
        return True  # `-m ""` selects everything

    def carries(name: str, /, **arguments: str | int | bool | None) -> bool:
        return name == marker and not arguments

    return Expression.compile(markexpr).evaluate(carries)


class RunLock:
    """A readers-writer lock between the workers of one run. Every test holds it shared; a test
    marked `alone` (it measures time or memory) holds it alone, so no other test of the run
    competes with it for the cores. A turnstile lets the one waiting to be alone in first:
    while it waits, no other test starts."""

    def __init__(self, folder: Path) -> None:
        # Open for the worker's whole life: an flock belongs to the open file.
        self._turnstile = open(folder / "turnstile.lock", "a+b")
        self._tests = open(folder / "tests.lock", "a+b")

    def close(self) -> None:
        self._turnstile.close()
        self._tests.close()

    @contextlib.contextmanager
    def held(self, *, alone: bool) -> Iterator[None]:
        import fcntl

        fcntl.flock(self._turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(self._tests, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(self._turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(self._tests, fcntl.LOCK_UN)


class Scheduling(LoadScopeScheduling):
    """pytest-xdist's scope scheduling with one test a scope, but a file of TOGETHER one scope.
    Larger scopes go out first, so that file starts at once instead of ending the run alone."""

    def _split_scope(self, nodeid: str) -> str:
        file = nodeid.split("::", 1)[0]
        return file if file in TOGETHER else nodeid


@cache
def run_lock() -> RunLock | None:
    """This worker's side of its run's lock; None outside a parallel run."""
    folder = os.environ.get(LOCKS_VARIABLE)
    if not folder or not os.environ.get("PYTEST_XDIST_WORKER"):
        return None
    return RunLock(Path(folder))
