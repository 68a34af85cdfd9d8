"""The read-only tables the sections list things in (backends, models): one row per thing."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QAbstractItemView, QTableWidget

__all__ = ["read_only_table"]


def read_only_table(columns: Sequence[str], name: str) -> QTableWidget:
    """A table with `columns`, no row numbers, no editing, selected a whole row at a time."""
    table = QTableWidget(0, len(columns))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    return table
