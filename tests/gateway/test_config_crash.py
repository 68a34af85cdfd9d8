"""Saves killed with SIGKILL at random moments: the next load always gets whole settings."""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import load_config, save_config
from tests.gateway.config_saver import CONFIGS
from tests.paths import REPO

ROUNDS = 240


class Saver:
    """The forking saver process (tests.gateway.config_saver)."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.gateway.config_saver", str(path)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the saver stopped (exit {self.proc.poll()})"
        return line.strip()

    def start_child(self) -> int:
        """Fork a child that saves in a loop; returns its pid once its first save is done."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("fork\n")
        pid, saving = None, False
        while pid is None or not saving:
            line = self._line()
            if line == "saving":
                saving = True
            elif line.startswith("pid "):
                pid = int(line.split()[1])
            else:
                raise AssertionError(f"unexpected line from the saver: {line!r}")
        return pid

    def reap(self, pid: int) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"reap {pid}\n")
        return self._line()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def saver(tmp_path: Path) -> Iterator[tuple[Saver, Path]]:
    path = tmp_path / "lmgate" / "config.toml"
    save_config(CONFIGS[0], path)
    process = Saver(path)
    try:
        yield process, path
    finally:
        process.close()


@pytest.mark.timeout(90)
def test_a_save_killed_at_any_moment_never_loses_the_settings(
    saver: tuple[Saver, Path],
) -> None:
    process, path = saver
    # A save costs from a fraction of a millisecond to tens (its fsyncs, on a busy disk): the
    # kills spread evenly over about two saves, whatever this machine's disk does.
    durations = []
    for config in (*CONFIGS, *CONFIGS, CONFIGS[0]):
        started = time.perf_counter()
        save_config(config, path.with_name("timing.toml"))
        durations.append(time.perf_counter() - started)
    max_delay = min(0.05, 2 * statistics.median(durations))
    rng = random.Random()
    seed = rng.randrange(2**32)
    rng.seed(seed)
    losses: list[str] = []
    for round_ in range(ROUNDS):
        pid = process.start_child()
        time.sleep(rng.uniform(0, max_delay))
        os.kill(pid, signal.SIGKILL)
        assert process.reap(pid) == f"signal {signal.SIGKILL}", "the saver ended on its own"
        loaded = load_config(path)
        if loaded.config not in CONFIGS or loaded.recovered_from is not None:
            files = sorted(p.name for p in path.parent.iterdir())
            losses.append(f"round {round_}: {loaded.problem or 'defaults'}; files: {files}")
    assert losses == [], f"{len(losses)} of {ROUNDS} kills lost the settings (seed {seed})"
