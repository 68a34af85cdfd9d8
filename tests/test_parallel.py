"""The default suite runs on one worker per core, the live suite and the benchmark serially, and
a test marked `alone` with no other test of its run beside it."""

from __future__ import annotations

import shlex
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.parallel import TOGETHER, RunLock, Scheduling, workers
from tests.paths import REPO


@pytest.mark.parametrize(
    "markexpr",
    ["not live and not bench", "not live and not bench and not frozen", "claude", "frozen"],
)
def test_a_selection_without_live_or_bench_gets_a_worker_per_core(markexpr: str) -> None:
    assert workers(markexpr, cores=2) == 2
    assert workers(markexpr, cores=8) == 8


@pytest.mark.parametrize("markexpr", ["live", "bench", "live or claude", "not frozen", "", " "])
def test_a_selection_that_can_include_live_or_bench_runs_serially(markexpr: str) -> None:
    assert workers(markexpr, cores=2) == 0


def test_the_default_options_ask_for_workers() -> None:
    options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    addopts = shlex.split(options["addopts"])
    assert "-n" in addopts and addopts[addopts.index("-n") + 1] == "auto"
    assert "-m" in addopts
    assert workers(addopts[addopts.index("-m") + 1], cores=2) == 2


class Holder:
    """One worker's side of a run's lock (its own open file, as in its own process), taken on a
    thread of its own."""

    def __init__(self, folder: Path) -> None:
        self.lock = RunLock(folder)
        self.held, self.release = threading.Event(), threading.Event()
        self.thread: threading.Thread | None = None

    def take(self, *, alone: bool) -> threading.Event:
        def run() -> None:
            with self.lock.held(alone=alone):
                self.held.set()
                self.release.wait(10)

        self.thread = threading.Thread(target=run)
        self.thread.start()
        return self.held

    def close(self) -> None:
        self.release.set()
        if self.thread is not None:
            self.thread.join(10)
        self.lock.close()


@pytest.fixture
def workers_of_a_run(tmp_path: Path) -> Iterator[list[Holder]]:
    holders = [Holder(tmp_path) for _ in range(3)]
    yield holders
    for holder in holders:
        holder.close()


def test_tests_share_the_run(workers_of_a_run: list[Holder]) -> None:
    first, second, _ = workers_of_a_run
    assert first.take(alone=False).wait(5)
    assert second.take(alone=False).wait(5)


def test_an_alone_test_waits_for_the_running_one_and_then_runs_by_itself(
    workers_of_a_run: list[Holder],
) -> None:
    running, alone, later = workers_of_a_run
    assert running.take(alone=False).wait(5)
    assert not alone.take(alone=True).wait(0.3)
    # Waiting to be alone holds the next test back, however many are shared already.
    assert not later.take(alone=False).wait(0.3)
    running.release.set()
    assert alone.held.wait(5)
    assert not later.held.wait(0.3)
    alone.release.set()
    assert later.held.wait(5)


def test_the_frozen_builds_tests_are_one_unit_of_work_and_the_rest_one_each() -> None:
    # Without __init__, which needs a parallel run's nodes: _split_scope reads no state.
    scheduling = Scheduling.__new__(Scheduling)
    frozen = [f"{TOGETHER[0]}::test_the_cli_runs_from_the_build", f"{TOGETHER[0]}::test_x[a]"]
    assert {scheduling._split_scope(nodeid) for nodeid in frozen} == {TOGETHER[0]}
    others = ["tests/test_fakes.py::test_a", "tests/test_fakes.py::test_b[x::y]"]
    assert [scheduling._split_scope(nodeid) for nodeid in others] == others
