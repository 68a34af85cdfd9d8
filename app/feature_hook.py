"""PySide6's import hook, kept from caching the source of every module the process imports.

From its first import on, PySide6 (shibokensupport's `feature` module, behind `from __feature__
import …`) asks of every imported module whether it uses PySide6, with `inspect.getsource`: the
source of each is read, split into lines and kept by `linecache` for the life of the process.
For the desktop app that is the whole gateway stack (FastAPI, pydantic, aiohttp, uvicorn: about
560 files, 8 MB of text) and ~22 MB of resident memory that is never given back, even after
`linecache.clearcache()` (the lines are small objects spread over the heap). `quiet()` gives
the hook the same answer from the file's bytes, read and dropped, so nothing is cached (and the
imports are ~10 % faster). Call it before the first `PySide6.QtCore` import: that import is
when the hook also scans every module imported so far.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType

__all__ = ["quiet", "uses_pyside"]

_MARK = "_lmgate_uncached"


def uses_pyside(module: ModuleType, fallback: Callable[[ModuleType], bool]) -> bool:
    """PySide6's question ("PySide6" anywhere in the module's source), from the file's bytes;
    modules without a .py file (built in, extension, frozen) go to `fallback`."""
    path = getattr(module, "__file__", None)
    if not isinstance(path, str) or not path.endswith(".py"):
        return fallback(module)
    try:
        with open(path, "rb") as source:
            return b"PySide6" in source.read()
    except OSError:
        return fallback(module)


def quiet() -> bool:
    """Install `uses_pyside` in PySide6's hook; False where this PySide6 has no such hook (a
    later version may not), and then nothing is changed."""
    import shiboken6  # noqa: F401  (loads shibokensupport, where the hook lives)

    feature = sys.modules.get("shibokensupport.feature")
    original = getattr(feature, "_mod_uses_pyside", None)
    if feature is None or not callable(original):
        return False
    if getattr(original, _MARK, False):
        return True

    def uncached(module: ModuleType) -> bool:
        return uses_pyside(module, original)

    setattr(uncached, _MARK, True)
    feature._mod_uses_pyside = uncached  # type: ignore[attr-defined]
    return True
