"""The default suite runs on one worker per core; the live suite and the benchmark run alone."""

from __future__ import annotations

import shlex
import tomllib

import pytest

from tests.parallel import workers
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


def test_the_default_options_ask_for_workers_and_keep_groups_together() -> None:
    options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    addopts = shlex.split(options["addopts"])
    assert "-n" in addopts and addopts[addopts.index("-n") + 1] == "auto"
    assert "--dist" in addopts and addopts[addopts.index("--dist") + 1] == "loadgroup"
    assert "-m" in addopts
    assert workers(addopts[addopts.index("-m") + 1], cores=2) == 2
