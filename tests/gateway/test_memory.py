"""gateway/memory.py: the heap trimmer's timing (a full collection and a trim once the gateway
has gone quiet after requests, a trim alone after growth while busy), and the switch of Python's
small objects to the C allocator, in a process of its own each time: what it changes, that it
gives a burst's memory back where pymalloc's arenas do not, and where it declines."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import textwrap

import pytest

from gateway import memory
from gateway.memory import HeapTrimmer, malloc_trim, resident_bytes
from tests.paths import REPO


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


class _Script:
    """Drives a HeapTrimmer tick by tick: each tick, what resident memory reads (MB) and how
    many requests end during it; records what the trimmer did at each."""

    def __init__(self, trimmer_ref: list[HeapTrimmer], ticks: list[tuple[float, int]]) -> None:
        self.ticks = ticks
        self.trimmer_ref = trimmer_ref
        self.rss = 100.0
        self.done: list[str] = []
        self.step = -1

    async def sleep(self, _seconds: float) -> None:
        self.step += 1
        if self.step >= len(self.ticks):
            raise _Done
        self.rss, ended = self.ticks[self.step]
        for _ in range(ended):
            self.trimmer_ref[0].note()

    def reading(self) -> int:
        return int(self.rss * 2**20)

    def trim(self) -> bool:
        self.done.append(f"trim@{self.step}")
        self.rss = min(self.rss, 100.0)
        return True

    def collect(self, *args: object) -> int:
        self.done.append(f"collect@{self.step}")
        return 0


def _run(monkeypatch: pytest.MonkeyPatch, ticks: list[tuple[float, int]]) -> list[str]:
    ref: list[HeapTrimmer] = []
    script = _Script(ref, ticks)
    monkeypatch.setattr(memory, "resident_bytes", script.reading)
    monkeypatch.setattr(memory, "malloc_trim", script.trim)
    monkeypatch.setattr(memory, "_TRIM", lambda: 1)
    monkeypatch.setattr(gc, "collect", script.collect)
    monkeypatch.setattr(memory, "small_objects_to_malloc", lambda: True)
    # One-second ticks, quiet after two, growth looked at every five (the defaults).
    ref.append(HeapTrimmer(sleep=script.sleep))

    async def run() -> None:
        with pytest.raises(_Done):
            await ref[0].run()

    asyncio.run(run())
    return script.done


def test_a_collection_and_a_trim_once_quiet_after_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    # Requests end during ticks 0-3, then none: quiet for two ticks at tick 5. Then idle, and
    # idle stays untouched however long; a lone request at 12 brings one more at 14. (Memory
    # stays within the growth threshold: growth alone is the next test's.)
    ticks = [(100.5, 3), (100.5, 5), (100.5, 2), (100.5, 1)] + [(100.5, 0)] * 8 + [(101, 1)]
    ticks += [(101, 0)] * 5
    assert _run(monkeypatch, ticks) == [
        "trim@-1",  # at the start
        "collect@5",
        "trim@5",
        "collect@14",
        "trim@14",
    ]


def test_while_busy_a_trim_alone_after_growth(monkeypatch: pytest.MonkeyPatch) -> None:
    # A request ends every tick for 15 ticks: never quiet. Memory is looked at every fifth tick:
    # 100.5 at tick 4 is within the 1 MB; 140 at 9 is a trim (which brings it to 100); 100.8 at
    # 14 is not. No collection while busy: it would stall requests in flight.
    ticks = [(100.5, 1)] * 5 + [(140, 1)] * 5 + [(100.8, 1)] * 5
    assert _run(monkeypatch, ticks) == ["trim@-1", "trim@9"]


def _python(code: str, *args: str, **env: str) -> dict[str, object]:
    """Run `code` in a fresh interpreter (with `args` before `-c`) with the repository
    importable; it prints one JSON line last."""
    result = subprocess.run(
        [sys.executable, *args, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


_BURST = """
    import gc, json, sys
    from gateway.memory import malloc_trim, resident_bytes, small_objects_to_malloc

    def mb() -> float:
        gc.collect(); malloc_trim()
        return resident_bytes() / 2**20

    switched = small_objects_to_malloc() if SWITCH else False
    start = mb()
    blocks = sys.getallocatedblocks()
    burst = [(i, str(i)) for i in range(400_000)]  # ~50 MB of small objects
    grew = sys.getallocatedblocks() - blocks
    kept = burst[::2000]  # what outlives the burst: one object in 2,000
    del burst
    print(json.dumps({"switched": switched, "grew": grew, "left": mb() - start}))
"""


def test_small_objects_to_malloc_gives_a_bursts_memory_back() -> None:
    """The switch, in a process of its own: 400,000 small objects made and freed but one in
    2,000. In pymalloc's arenas those few keep tens of MB; from the C allocator a trim gives all
    but a few pages back."""
    pymalloc = _python("SWITCH = False\n" + textwrap.dedent(_BURST))
    switched = _python("SWITCH = True\n" + textwrap.dedent(_BURST))
    assert pymalloc["switched"] is False and switched["switched"] is True
    # pymalloc counts its blocks; the C allocator's are not counted at all.
    assert isinstance(pymalloc["grew"], int) and pymalloc["grew"] > 1_000_000
    assert isinstance(switched["grew"], int) and switched["grew"] < 1_000
    assert isinstance(pymalloc["left"], float) and pymalloc["left"] > 20, pymalloc
    assert isinstance(switched["left"], float) and switched["left"] < 3, switched


def test_objects_from_before_and_after_the_switch_are_freed_either_side() -> None:
    out = _python(
        """
        import asyncio, gc, json
        from gateway.memory import small_objects_to_malloc
        before = [{"n": i, "s": str(i) * 3, "t": (i, i + 1)} for i in range(50_000)]
        grown = [[i] for i in range(20_000)]  # lists from before, grown after (realloc)
        assert small_objects_to_malloc() and small_objects_to_malloc()  # once, then a no-op
        after = [{"n": i, "s": str(i) * 3, "t": (i, i + 1)} for i in range(50_000)]
        for item in grown:
            item.extend(range(100))
        mixed = before[::2] + after[::2]
        del before, after
        gc.collect()
        async def churn() -> int:
            results = await asyncio.gather(*(asyncio.sleep(0, i) for i in range(5_000)))
            return sum(results)
        total = asyncio.run(churn())
        ok = sum(len(g) for g in grown) == 20_000 * 101 and len(mixed) == 50_000
        print(json.dumps({"total": total, "ok": ok}))
        """
    )
    assert out == {"total": sum(range(5_000)), "ok": True}


@pytest.mark.parametrize(
    ("why", "args", "env"),
    [
        ("PYTHONMALLOC chose another allocator", [], {"PYTHONMALLOC": "malloc"}),
        ("debug hooks (development mode)", ["-X", "dev"], {}),
        ("tracemalloc's hook", ["-X", "tracemalloc"], {}),
    ],
)
def test_the_switch_declines_where_the_allocator_is_not_plain_pymalloc(
    why: str, args: list[str], env: dict[str, str]
) -> None:
    code = "import json; from gateway.memory import small_objects_to_malloc\n"
    code += "print(json.dumps({'switched': small_objects_to_malloc()}))"
    assert _python(code, *args, **env) == {"switched": False}, why
