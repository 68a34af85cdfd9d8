"""Memory after a fault run (huge lines, cut and broken streams, trickles, silences, clients that
leave or dribble their headers, 200 concurrent streams): the gateway in its own process gives
back what the run took, to within 10 MB of where it started (issue #11), does not grow with
further runs, and holds no more file descriptors."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from tests.bench.faults import JOBS, MB, Tally, fault_backend, fault_round, new_client, run_job
from tests.fakes.wire import RawBackend
from tests.paths import REPO


@pytest.fixture
def backend() -> Iterator[RawBackend]:
    with fault_backend() as started:
        yield started


@pytest.fixture
def gateway(backend: RawBackend) -> Iterator[tuple[int, psutil.Process]]:
    """`python -m tests.bench.gateway_proc` with the fault run's short timeouts: (port, process)."""
    args = [sys.executable, "-m", "tests.bench.gateway_proc", backend.url]
    args += ["--model", "fake-model", "--faults"]
    proc = subprocess.Popen(args, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        port = int(proc.stdout.readline())
        yield port, psutil.Process(proc.pid)
    finally:
        proc.stdin.close()  # its lifeline: it stops when stdin closes
        proc.stdout.close()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _each_job_once(port: int) -> Tally:
    tally = Tally()
    async with new_client(port) as client:
        for name in JOBS:
            await run_job(name, client, tally)
    return tally


def _settled_rss(process: psutil.Process, seconds: float = 2.0) -> int:
    time.sleep(seconds)
    return int(process.memory_info().rss)


@pytest.mark.timeout(300)
def test_rss_comes_back_after_a_fault_run(gateway: tuple[int, psutil.Process]) -> None:
    port, process = gateway
    # Every path once first: what is loaded on first use (imports, caches) is not a leak.
    warm = asyncio.run(_each_job_once(port))
    assert not warm.unaccounted, warm.unaccounted
    # Past the heap trimmer's collection and trim after the warm-up: a settled baseline.
    start = _settled_rss(process, 6.0)
    fds = process.num_fds()
    tally = Tally()
    after: list[int] = []
    for _ in range(3):
        asyncio.run(fault_round(port, tally, streams=200))
        after.append(_back(process, start, fds))
    assert not tally.unaccounted, tally.unaccounted
    assert tally.outcomes["line-too-long"] == 9 and tally.outcomes["deadline-504"] == 15
    shown = " → ".join(f"{rss / MB:.1f}" for rss in [start, *after])
    # Issue #11: within 10 MB of the start. Measured: +2.5 MB after the first round, +3.0 after
    # the third. Before gateway/memory.py sent small objects to the C allocator, Python's
    # arenas kept 11-12 MB of the first round (9 arenas of 1 MiB, each held by a few objects
    # that outlived the burst); before the trimmer, glibc kept 24 MB more.
    assert after[0] - start <= 10 * MB, shown
    assert after[2] - after[0] <= 3 * MB, shown
    assert process.num_fds() <= fds + 4, f"{fds} → {process.num_fds()} descriptors"


def _back(process: psutil.Process, start: int, fds: int) -> int:
    """RSS once idle: idle connections to the backend expire after 4 s, and the heap is
    collected and trimmed once no request has ended for 2 s, so wait past both (7 s), then until
    memory is back or has stopped coming down (no reading 0.5 MB lower in the last 3 s), 30 s
    at most."""
    began = time.monotonic()
    readings: list[int] = []
    while True:
        time.sleep(1.0)
        rss, open_fds = int(process.memory_info().rss), process.num_fds()
        readings.append(rss)
        waited = time.monotonic() - began
        if waited > 30:
            return rss
        if waited < 7 or open_fds > fds + 4:
            continue
        if rss - start <= 10 * MB or min(readings[-4:-1], default=rss) - rss < MB // 2:
            return rss
