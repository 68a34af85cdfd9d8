"""The catalogue as the text table `lmgate backends` prints: one line per backend, then its
models (loaded, context window and maximum, tools, vision, thinking)."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.backends.catalogue import CatalogueSnapshot, ModelInfo

__all__ = ["render_catalogue"]

_BACKEND_HEAD = ("BACKEND", "KIND", "STATUS", "VERSION", "PROTOCOL", "URL")
_MODEL_HEAD = ("MODEL", "LOADED", "CONTEXT / MAX", "TOOLS", "VISION", "THINKING")


def render_catalogue(snapshot: CatalogueSnapshot) -> str:
    if not snapshot.backends:
        return "No backend found."
    backend_rows = [
        (
            b.id,
            b.kind,
            b.state,
            b.version or "-",
            b.protocol,
            b.url + (" (discovered)" if b.discovered else ""),
        )
        for b in snapshot.backends
    ]
    model_rows = {
        b.id: [_model_row(m) for m in snapshot.models_of(b.id)] for b in snapshot.backends
    }
    backend_widths = _widths([_BACKEND_HEAD, *backend_rows])
    all_models = [row for rows in model_rows.values() for row in rows]
    model_widths = _widths([_MODEL_HEAD, *all_models])
    lines = [_line(_BACKEND_HEAD, backend_widths)]
    for backend, row in zip(snapshot.backends, backend_rows, strict=True):
        lines.append(_line(row, backend_widths))
        if backend.error:
            lines.append(f"  ! {backend.error}")
        rows = model_rows[backend.id]
        if rows:
            lines.append("  " + _line(_MODEL_HEAD, model_widths))
            lines.extend("  " + _line(r, model_widths) for r in rows)
        elif backend.state == "up":
            lines.append("  (no models)")
    return "\n".join(lines)


def _model_row(model: ModelInfo) -> tuple[str, ...]:
    name = model.name + (" (embedding)" if model.kind == "embedding" else "")
    window = str(model.context_window) if model.context_window else "-"
    maximum = str(model.max_context) if model.max_context else "-"
    return (
        name,
        _flag(model.loaded),
        f"{window} / {maximum}",
        _flag(model.tools),
        _flag(model.vision),
        _flag(model.thinking),
    )


def _flag(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _widths(rows: Sequence[Sequence[str]]) -> list[int]:
    return [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]


def _line(row: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
