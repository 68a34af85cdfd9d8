"""`app.signals.emit` keeps True alive however often signals fire (PySide6 6.12.0 lost one
reference to it per `emit()`, and the interpreter aborted after a few thousand)."""

from __future__ import annotations

import re
import sys

from PySide6.QtCore import QObject, Signal

from app.signals import emit
from tests.paths import REPO


class Source(QObject):
    fired = Signal(object)


def test_emitting_many_times_keeps_the_reference_count_of_true() -> None:
    source = Source()
    seen: list[int] = []
    source.fired.connect(seen.append)
    before = sys.getrefcount(True)
    for n in range(5000):
        emit(source.fired, n)
    assert len(seen) == 5000
    assert sys.getrefcount(True) >= before


def test_the_app_emits_only_through_the_helper() -> None:
    direct = re.compile(r"\.emit\(")
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted((REPO / "app").rglob("*.py"))
        if path.name != "signals.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if direct.search(line)
    ]
    assert offenders == []
