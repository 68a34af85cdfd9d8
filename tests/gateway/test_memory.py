"""The heap trimmer: a trim at the start, then one whenever resident memory has grown past the
threshold, none otherwise."""

from __future__ import annotations

import asyncio
import sys

import pytest

from gateway import memory
from gateway.memory import HeapTrimmer, malloc_trim, resident_bytes


def test_glibc_trim_and_resident_memory_are_found_on_linux_only() -> None:
    resident = resident_bytes()
    if sys.platform.startswith("linux"):  # the suite's machines, CI included
        assert malloc_trim() is True
        assert resident is not None and resident > 10 * 2**20
    else:  # glibc and /proc are Linux's: the trimmer does nothing, and says so
        assert malloc_trim() is False
        assert resident is None


class _Done(Exception):
    pass


def test_a_trim_at_the_start_then_only_after_growth(monkeypatch: pytest.MonkeyPatch) -> None:
    readings = [100, 100, 100.5, 101, 130, 120, 120.5, 120.8]  # MB, one per reading

    def reading() -> int:
        if not readings:
            raise _Done
        return int(readings.pop(0) * 2**20)

    trimmed: list[int] = []

    def trim() -> bool:
        trimmed.append(1)
        return True

    monkeypatch.setattr(memory, "resident_bytes", reading)
    monkeypatch.setattr(memory, "malloc_trim", trim)
    monkeypatch.setattr(memory, "_TRIM", lambda: 1)
    trimmer = HeapTrimmer(every=0.001)  # the default threshold: 1 MB

    async def run() -> None:
        with pytest.raises(_Done):
            await trimmer.run()

    asyncio.run(run())
    # 100 (`available`); a trim at the start, after which 100 is the baseline; 100.5, 101: no
    # (1 MB is not more than the threshold); 130: a trim, after which 120 is the baseline;
    # 120.5, 120.8: no.
    assert trimmed == [1, 1]
    assert trimmer.trims == 1
