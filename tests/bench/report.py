"""The benchmark's printed report: the headline figures beside the targets and the best peer,
then the detail of every section."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["HEADLINES", "render_report"]

Figures = Mapping[str, float]


@dataclass(frozen=True)
class Headline:
    label: str
    key: str  # without the transport prefix
    target: float | None
    peer: float | None
    higher_is_better: bool = False
    digits: int = 2

    def meets(self, value: float) -> bool | None:
        if self.target is None:
            return None
        return value >= self.target if self.higher_is_better else value <= self.target


HEADLINES = (
    Headline("small request c=1: added p50 (ms)", "latency.added_p50_ms", 0.8, 2.4),
    Headline("small request c=1: added p99 (ms)", "latency.added_p99_ms", 5.0, None),
    Headline("small request c=32: requests/s", "throughput.gateway_rps", 2000, 854, True, 0),
    Headline("small request c=32: added p50 (ms)", "throughput.added_p50_ms", None, 30.0),
    Headline("small request c=32: added p99 (ms)", "throughput.added_p99_ms", None, None),
    Headline("1000-chunk stream: events/s share of direct", "stream.events_share", 0.5, 0.35, True),
    Headline(
        "1000-chunk stream: gateway CPU/chunk (ms)",
        "stream.gateway_cpu_per_chunk_ms",
        0.010,
        0.016,
        digits=4,
    ),
    Headline("1000-chunk stream: first token added (ms)", "stream.added_first_ms", None, None),
    Headline(
        "Claude Code fixtures, JSON: worst added (ms)", "fixtures.worst_added_json_ms", 2.0, 11.3
    ),
    Headline(
        "Claude Code fixtures, SSE: worst first-token added (ms)",
        "fixtures.worst_added_first_ms",
        3.0,
        None,
    ),
)
COLD = (
    Headline("cold start, python -m gateway serve (s)", "python_m_gateway.start_s", 0.6, 0.94),
    Headline(
        "idle RSS, python -m gateway serve (MB)", "python_m_gateway.idle_rss_mb", 70, 69, digits=1
    ),
    Headline("cold start, lmgate serve (s)", "lmgate_script.start_s", 0.6, 0.94),
    Headline("idle RSS, lmgate serve (MB)", "lmgate_script.idle_rss_mb", 70, 69, digits=1),
)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _headline_rows(
    headlines: Sequence[Headline],
    value: Callable[[Headline, str], float | None],
    columns: Sequence[str],
) -> list[list[str]]:
    rows = []
    for h in headlines:
        cells = [h.label]
        for column in columns:
            v = value(h, column)
            mark = {True: " ok", False: " !!", None: ""}[h.meets(v) if v is not None else None]
            cells.append(_fmt(v, h.digits) + mark)
        cells += [_fmt(h.target, h.digits), _fmt(h.peer, h.digits)]
        rows.append(cells)
    return rows


def render_report(figures: Figures, meta: Mapping[str, str], transports: Sequence[str]) -> str:
    out = ["LM Gate benchmark", "=" * 17]
    out += [f"{k}: {v}" for k, v in meta.items()]
    present = [t for t in transports if any(k.startswith(f"{t}.") for k in figures)]
    if present:
        out += ["", "Headline (gateway minus direct, same run; ok / !! against the target)"]
        rows = _headline_rows(HEADLINES, lambda h, t: figures.get(f"{t}.{h.key}"), present)
        rows = [r for r in rows if any(c != "-" for c in r[1 : 1 + len(present)])]
        out += _table(["figure", *present, "target", "best peer"], rows)
    if any(k.startswith("coldstart.") for k in figures):
        out += [""]
        rows = _headline_rows(COLD, lambda h, _: figures.get(f"coldstart.{h.key}"), ["value"])
        out += _table(["cold start (median of runs)", "value", "target", "best peer"], rows)
    for section in ("latency", "throughput", "stream", "fixtures"):
        keys = sorted({k.split(".", 2)[2] for k in figures if k.split(".")[1:2] == [section]})
        if not keys:
            continue
        out += ["", f"{section} (medians over repetitions)"]
        rows = [
            [key, *(_fmt(figures.get(f"{t}.{section}.{key}"), 3) for t in present)] for key in keys
        ]
        out += _table([section, *present], rows)
    fakes = sorted(k for k in figures if k.startswith("fakes."))
    if fakes:
        out += [
            "",
            "the two fakes as the direct baseline (lean: raw asyncio; fakebackend: the "
            "suite's FakeBackend)",
        ]
        out += _table(
            ["figure", "value"], [[k.removeprefix("fakes."), _fmt(figures[k], 4)] for k in fakes]
        )
    return "\n".join(out)
