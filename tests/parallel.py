"""How many pytest-xdist workers a run gets: one per core, or none if it needs the machine."""

from __future__ import annotations

import os

from _pytest.mark.expression import Expression

__all__ = ["workers"]

# The live suite's one real server and the benchmark's measurements need the machine to
# themselves: run serially when the selection can include them.
ALONE = ("live", "bench")


def workers(markexpr: str, cores: int | None = None) -> int:
    """Workers for `pytest -m markexpr`: 0 (run in this process) or one per core."""
    if any(selects(markexpr, marker) for marker in ALONE):
        return 0
    return cores or os.cpu_count() or 1


def selects(markexpr: str, marker: str) -> bool:
    """Whether `-m markexpr` can pick a test that carries `marker` and no other mark."""
    if not markexpr.strip():
        return True  # `-m ""` selects everything

    def carries(name: str, /, **arguments: str | int | bool | None) -> bool:
        return name == marker and not arguments

    return Expression.compile(markexpr).evaluate(carries)
