"""Memory given back after a burst. A gateway that once held a few hundred streams (or a huge
line) used to stay 10-60 MB above its baseline for good; three things kept it there.

1. glibc's malloc keeps what was freed for reuse. `malloc_trim(0)` returns the free pages of
   every malloc arena to the system (0.5-3 ms, on a worker thread).
2. Python's own allocator for small objects (pymalloc) takes memory in 1 MiB arenas and gives
   an arena back only once every object in it is gone. A burst of 200 streams made 9 arenas,
   and about 60 objects that outlived it kept all 9 (+8 MB for good): asyncio's, aiohttp's and
   multidict's free lists, cancelled keep-alive timers, the prefix watch's prompts. Once the
   gateway runs, `small_objects_to_malloc()` sends new small objects to the C allocator
   instead, where what outlives a burst keeps a 4 KiB page rather than a MiB, and a trim gives
   back the rest.
3. CPython's own free lists (tuples, floats, dicts, lists…) keep thousands of freed objects
   spread over the heap; only a full collection empties them.

So `HeapTrimmer` runs a full collection and a trim once the gateway has gone quiet after
requests (none finished for `quiet` seconds), and a trim alone whenever resident memory has grown
by more than `threshold` during a long busy spell. After a fault round with 200 concurrent
streams the gateway ends 2-3 MB above where it started (it was 11-12 MB with the arenas, 59 MB
before any of this); see tests/gateway/load/test_memory_after_faults.py.

A full collection walks every object the collector tracks, ~300,000 once the gateway has
started (55 ms). `freeze_startup()` moves those out of its way (`gc.freeze`): a collection then
takes 0.3-7 ms, and the collector's own periodic full passes no longer stall requests.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os
import sys
import sysconfig
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = [
    "HeapTrimmer",
    "freeze_startup",
    "malloc_trim",
    "resident_bytes",
    "small_objects_to_malloc",
]

log = logging.getLogger("lmgate.memory")


def _find_trim() -> Callable[[], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim  # musl and others have none
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: int(trim(0))


_TRIM = _find_trim()


def malloc_trim() -> bool:
    """Give free heap pages back to the system; False where there is no glibc."""
    if _TRIM is None:
        return False
    _TRIM()
    return True


def resident_bytes() -> int | None:
    """This process's resident memory (Linux), None elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def freeze_startup() -> None:
    """Collect once, then keep every object alive now (modules, the app, the catalogue: what
    lives as long as the process) out of later collections. For the process's owner to call
    once the gateway has started (`lmgate serve`; the desktop app freezes its own)."""
    gc.collect()
    gc.freeze()


class _Allocator(ctypes.Structure):
    """CPython's PyMemAllocatorEx."""

    _fields_ = [
        ("ctx", ctypes.c_void_p),
        ("malloc", ctypes.c_void_p),
        ("calloc", ctypes.c_void_p),
        ("realloc", ctypes.c_void_p),
        ("free", ctypes.c_void_p),
    ]


_RAW, _MEM, _OBJ = 0, 1, 2  # PyMemAllocatorDomain
_switched = False


def _pymalloc_in_use() -> bool:
    """True when the small-object domains are surely pymalloc with nothing hooked on them."""
    if sys.implementation.name != "cpython" or not (3, 11) <= sys.version_info < (3, 15):
        return False
    if sysconfig.get_config_var("Py_GIL_DISABLED"):  # free-threaded builds use mimalloc
        return False
    if sys.flags.dev_mode or hasattr(sys, "gettotalrefcount"):  # debug hooks on the allocators
        return False
    # PYTHONMALLOC chooses another allocator, except in a frozen app (PyInstaller's interpreter
    # reads no PYTHON* variable).
    return not os.environ.get("PYTHONMALLOC") or bool(getattr(sys, "frozen", False))


def small_objects_to_malloc() -> bool:
    """From now on, Python's small objects come from the C allocator (the raw domain) rather
    than pymalloc's arenas, where trimming can give their pages back (see the module docstring).
    True once done; False where it cannot be done safely, which changes nothing.

    Only allocation changes. pymalloc's own free and realloc stay installed: they tell a block
    of theirs by its address and hand any other to the raw allocator (obmalloc.c,
    `_PyObject_Free`: "pymalloc didn't allocate this address"), so every block made before the
    switch is still freed by pymalloc and every block made after it by the C allocator. The
    cost: `sys.getallocatedblocks()` no longer counts anything. Linux with glibc only: where
    nothing trims the heap, pymalloc is the better allocator."""
    global _switched
    if _switched:
        return True
    if _TRIM is None or not _pymalloc_in_use():
        return False
    api = ctypes.pythonapi  # calls keep the GIL: no other thread allocates meanwhile
    try:
        get, put = api.PyMem_GetAllocator, api.PyMem_SetAllocator
    except AttributeError:  # an embedding interpreter that does not export them
        return False
    for function in (get, put):
        function.argtypes = [ctypes.c_int, ctypes.POINTER(_Allocator)]
        function.restype = None
    raw = _Allocator()
    get(_RAW, ctypes.byref(raw))
    current = {domain: _Allocator() for domain in (_MEM, _OBJ)}
    for domain, allocator in current.items():
        get(domain, ctypes.byref(allocator))
    # A context means a hook (tracemalloc, debug hooks); the raw allocator's own functions
    # mean there is no pymalloc to leave. Either way, leave everything as it is.
    hooked = raw.ctx or any(a.ctx for a in current.values())
    if hooked or any(a.malloc == raw.malloc for a in current.values()):
        return False
    for domain, allocator in current.items():
        mixed = _Allocator(None, raw.malloc, raw.calloc, allocator.realloc, allocator.free)
        put(domain, ctypes.byref(mixed))
    _switched = True
    return True


class HeapTrimmer:
    """`await HeapTrimmer().run()` for as long as the gateway serves; `note` is told of every
    request that ends (a subscriber to the request records)."""

    def __init__(
        self,
        *,
        tick: float = 1.0,
        quiet: float = 2.0,
        every: float = 5.0,
        threshold: int = 1024 * 1024,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.tick = tick
        self.quiet = quiet
        self.every = every
        self.threshold = threshold
        self._ended = 0
        self._sleep = sleep

    def note(self, _record: Any = None) -> None:
        self._ended += 1

    @property
    def available(self) -> bool:
        return _TRIM is not None and resident_bytes() is not None

    async def run(self) -> None:
        if not self.available:
            return
        small_objects_to_malloc()
        # The first trim now, so that the default executor and its thread are made at the
        # start, not in the middle of a burst among its short-lived objects.
        await asyncio.to_thread(malloc_trim)
        floor = resident_bytes() or 0
        seen, busy, still, since_check = self._ended, False, 0.0, 0.0
        while True:
            await self._sleep(self.tick)
            if self._ended != seen:
                seen, busy, still = self._ended, True, 0.0
            else:
                still += self.tick
            if busy and still >= self.quiet:
                busy, since_check = False, 0.0
                gc.collect()  # the free lists (see the module docstring)
                floor = await self._trim()
                continue
            since_check += self.tick
            if since_check < self.every:
                continue
            since_check = 0.0
            now = resident_bytes() or 0
            if now - floor > self.threshold:
                floor = await self._trim()
            else:
                floor = min(floor, now)

    async def _trim(self) -> int:
        before = resident_bytes() or 0
        await asyncio.to_thread(malloc_trim)
        after = resident_bytes() or 0
        log.debug("heap trimmed: %.1f → %.1f MB resident", before / 2**20, after / 2**20)
        return after
