"""`emit()`: SignalInstance.emit without the reference PySide6 6.12.0 loses on every call.

PySide6 6.12.0 returns True from `emit()` without owning a reference to it, so each emit made
from Python drops one reference to True; after a few thousand requests the interpreter aborts
("bool_dealloc: deallocating True or False"). Taking the reference back costs nothing where the
bug is fixed (True is never freed) and nothing where bools are immortal (Python 3.12+).
"""

from __future__ import annotations

import ctypes
from typing import Any

from PySide6.QtCore import SignalInstance

__all__ = ["emit"]

_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None


def emit(signal: SignalInstance, *args: Any) -> None:
    # The stubs say emit() returns None; at run time it returns a bool.
    result: object = signal.emit(*args)  # type: ignore[func-returns-value]
    if result is True or result is False:
        _incref(result)
