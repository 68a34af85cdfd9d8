"""The benchmark's printed report: the headline figures beside the targets and the best peer,
then the detail of every section."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["COLD", "DESKTOP", "FAULTS", "HEADLINES", "SOAK", "render_report"]

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
        "64 paced streams at once: valid and complete", "streams64.valid_streams", 64, None, True, 0
    ),
    Headline(
        "64 paced streams: events/s through the gateway",
        "streams64.gateway_events_per_s",
        None,
        None,
        True,
        0,
    ),
    Headline(
        "64 paced streams: events/s share of direct", "streams64.events_share", None, None, True
    ),
    Headline(
        "64 paced streams: first token added p50 (ms)", "streams64.added_first_p50_ms", None, None
    ),
    Headline(
        "64 paced streams: gateway CPU/chunk (ms)",
        "streams64.gateway_cpu_per_chunk_ms",
        None,
        None,
        digits=4,
    ),
    Headline(
        "64 paced streams: gateway RSS before (MB)", "streams64.rss_before_mb", None, None, digits=1
    ),
    Headline("64 paced streams: gateway RSS peak (MB)", "streams64.rss_peak_mb", 90, 81, digits=1),
    Headline(
        "64 paced streams: gateway RSS after (MB)", "streams64.rss_after_mb", None, None, digits=1
    ),
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
    Headline(
        "RSS after one count_tokens (BPE tables loaded), python -m gateway serve (MB)",
        "python_m_gateway.tokens_rss_mb",
        None,
        None,
        digits=1,
    ),
    Headline(
        "serve runs still up 10 s after SIGTERM, python -m gateway serve",
        "python_m_gateway.sigterm_stuck",
        0,
        None,
        digits=0,
    ),
    Headline("cold start, lmgate serve (s)", "lmgate_script.start_s", 0.6, 0.94),
    Headline("idle RSS, lmgate serve (MB)", "lmgate_script.idle_rss_mb", 70, 69, digits=1),
    Headline(
        "RSS after one count_tokens (BPE tables loaded), lmgate serve (MB)",
        "lmgate_script.tokens_rss_mb",
        None,
        None,
        digits=1,
    ),
    Headline(
        "serve runs still up 10 s after SIGTERM, lmgate serve",
        "lmgate_script.sigterm_stuck",
        0,
        None,
        digits=0,
    ),
)
DESKTOP = (
    Headline(
        "desktop app (GUI + gateway): idle RSS, window shown (MB)",
        "idle_rss_mb",
        140,
        None,
        digits=1,
    ),
    Headline("desktop app: exec → first 200 from /health (s)", "start_s", None, None),
    Headline("desktop app: threads", "threads", None, None, digits=0),
    Headline("desktop app: exits 0 on SIGTERM (1 = yes)", "clean_exit", 1, None, True, 0),
    Headline("desktop app: process start → first window (s)", "first_window_s", 1.5, None),
    Headline("desktop app: RSS, window idle (MB)", "window_idle_rss_mb", 150, None, digits=1),
    Headline(
        "desktop app: RSS after browsing every page (MB)", "browsed_rss_mb", 150, None, digits=1
    ),
    Headline(
        "desktop app: RSS after 1,000 requests (MB)",
        "after_1000_requests_rss_mb",
        150,
        None,
        digits=1,
    ),
)
TOKENS = (
    Headline("token counter: load the vocabulary (s)", "gateway.load_s", None, None, digits=3),
    Headline("reference (bpe-openai): load (s)", "reference.load_s", None, None, digits=3),
    Headline("token counter: memory once loaded (MB)", "gateway.rss_mb", None, None, digits=1),
    Headline(
        "reference (bpe-openai): memory once loaded (MB)", "reference.rss_mb", None, None, digits=1
    ),
    Headline("token counter: every fixture text (ms)", "gateway.count_all_ms", None, None),
    Headline("reference: every fixture text (ms)", "reference.count_all_ms", None, None),
    Headline("  ratio, counter / reference", "ratio.count_all_ms", None, None),
    Headline("token counter: the largest text (ms)", "gateway.count_largest_ms", None, None),
    Headline("reference: the largest text (ms)", "reference.count_largest_ms", None, None),
    Headline("  characters in the largest text", "gateway.largest_chars", None, None, digits=0),
    Headline("token counter: 40,000 letters, no break (ms)", "gateway.junk_ms", None, None),
    Headline("reference: 40,000 letters, no break (ms)", "reference.junk_ms", None, None),
    Headline(
        "  tokens in the fixtures (equal in both)", "gateway.fixture_tokens", None, None, digits=0
    ),
)
SOAK = (
    Headline("soak: seconds", "seconds", None, None, digits=0),
    Headline("soak: requests done", "requests", None, None, True, 0),
    Headline("soak: errors", "errors", 0, None, digits=0),
    Headline("soak: requests/s", "requests_per_s", None, None, True, 0),
    Headline("soak: small request p50 (ms)", "small_p50_ms", None, None),
    Headline("soak: small request p99 (ms)", "small_p99_ms", None, None),
    Headline("soak: gateway RSS at the start (MB)", "rss_start_mb", None, None, digits=1),
    Headline("soak: gateway RSS in the middle (MB)", "rss_middle_mb", None, None, digits=1),
    Headline("soak: gateway RSS at the end (MB)", "rss_end_mb", None, None, digits=1),
    Headline("soak: gateway RSS growth, end - start (MB)", "rss_growth_mb", None, None, digits=1),
    Headline("soak: gateway RSS peak (MB)", "rss_peak_mb", None, None, digits=1),
    Headline("soak: open fds at the start", "fds_start", None, None, digits=0),
    Headline("soak: open fds at the end", "fds_end", None, None, digits=0),
    Headline("soak: threads at the start", "threads_start", None, None, digits=0),
    Headline("soak: threads at the end", "threads_end", None, None, digits=0),
)
FAULTS = (
    Headline("faults: seconds of the mix", "soak_seconds", None, None, digits=0),
    Headline("faults: requests", "requests", None, None, True, 0),
    Headline("faults: unaccounted outcomes", "unaccounted", 0, None, digits=0),
    Headline("faults: normal request p50, idle (ms)", "normal_idle_p50_ms", None, None),
    Headline("faults: normal request p99, idle (ms)", "normal_idle_p99_ms", None, None),
    Headline(
        "faults: normal request p99 during 50 MB lines (ms)",
        "normal_huge_lines_p99_ms",
        None,
        None,
    ),
    Headline("  ratio to idle", "huge_lines_p99_ratio", 2.0, None),
    Headline(
        "faults: normal request p99 beside 200 slow clients (ms)",
        "normal_slow_clients_p99_ms",
        None,
        None,
    ),
    Headline("  ratio to idle", "slow_clients_p99_ratio", 2.0, None),
    Headline("faults: gateway RSS at the start (MB)", "rss_start_mb", None, None, digits=1),
    Headline("faults: gateway RSS at the end (MB)", "rss_end_mb", None, None, digits=1),
    Headline("faults: gateway RSS growth (MB)", "rss_growth_mb", 10, None, digits=1),
    Headline("faults: open fds at the start", "fds_start", None, None, digits=0),
    Headline("faults: open fds at the end", "fds_end", None, None, digits=0),
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
    for prefix, headlines, title in (
        ("coldstart", COLD, "cold start (median of runs) and memory"),
        ("desktop", DESKTOP, "desktop app, offscreen"),
        ("tokens", TOKENS, "token counter (fresh interpreters, best of runs)"),
        ("soak", SOAK, "soak (mixed load, moderate concurrency)"),
        ("faults", FAULTS, "fault soak (hostile backends and clients beside normal traffic)"),
    ):
        if any(k.startswith(f"{prefix}.") for k in figures):
            out += [""]
            # The one column is named by the prefix, so the lambda binds no loop variable.
            rows = _headline_rows(headlines, lambda h, c: figures.get(f"{c}.{h.key}"), [prefix])
            out += _table([title, "value", "target", "best peer"], rows)
    for section in ("latency", "throughput", "stream", "fixtures", "streams64", "features"):
        keys = sorted({k.split(".", 2)[2] for k in figures if k.split(".")[1:2] == [section]})
        if not keys:
            continue
        out += ["", f"{section} (medians over repetitions)"]
        rows = [
            [key, *(_fmt(figures.get(f"{t}.{section}.{key}"), 3) for t in present)] for key in keys
        ]
        out += _table([section, *present], rows)
    outcomes = sorted(k for k in figures if k.startswith("faults.outcome."))
    if outcomes:
        out += ["", "fault soak: outcomes by kind (each the answer its fault must get)"]
        out += _table(
            ["outcome", "count"],
            [[k.removeprefix("faults.outcome."), _fmt(figures[k], 0)] for k in outcomes],
        )
    routing = sorted(k for k in figures if k.startswith("routing."))
    if routing:
        out += [
            "",
            "routing: the small request at c=1 (latency) and c=32 (throughput) with every route, "
            "a fallback and two replicas set, against the same gateway without them (ratio: "
            "with / without)",
        ]
        out += _table(
            ["figure", "value"],
            [[k.removeprefix("routing."), _fmt(figures[k], 3)] for k in routing],
        )
    review = sorted(k for k in figures if k.startswith("review."))
    if review:
        out += [
            "",
            "auto-mode review of a streamed tool-call turn (medians; ratio against the same "
            "turn without safeguards; the suite's FakeBackend and the gateway in one process, "
            "the fake answering as the review model)",
        ]
        out += _table(
            ["figure", "value"], [[k.removeprefix("review."), _fmt(figures[k], 3)] for k in review]
        )
    out += _prefix_table(figures)
    keys = sorted(k for k in figures if k.startswith("keys."))
    if keys:
        out += [
            "",
            "client keys (team mode): the small request through the same gateway with a key "
            "required, checked and charged against a limit, and without (medians; a ratio is "
            "keys / plain)",
        ]
        out += _table(
            ["figure", "value"], [[k.removeprefix("keys."), _fmt(figures[k], 3)] for k in keys]
        )
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


def _prefix_table(figures: Figures) -> list[str]:
    """Per turn and path: prompt tokens processed / read from the cache, time to first token."""
    paths = [
        p
        for p in ("lmgate_openai", "lmgate_anthropic", "direct")
        if f"prefix.{p}.turn1.prompt" in figures
    ]
    if not paths:
        return []
    turns = sorted(
        {int(k.split(".")[2].removeprefix("turn")) for k in figures if k.startswith("prefix.")}
    )
    rows = []
    for n in turns:
        row = [str(n)]
        for p in paths:
            key = f"prefix.{p}.turn{n}"
            row.append(
                f"{_fmt(figures[key + '.processed'], 0)} / {_fmt(figures[key + '.cached'], 0)}"
                f" · {_fmt(figures[key + '.ttft_ms'], 0)} ms"
            )
        rows.append(row)
    names = {
        "lmgate_openai": "LM Gate (chat completions)",
        "lmgate_anthropic": "LM Gate (Messages API)",
        "direct": "llama-server /v1/messages",
    }
    return [
        "",
        "prompt cache per turn on a real llama.cpp server (Gemma 3 270M, CPU): prompt tokens "
        "processed / read from cache · time to first token",
        *_table(["turn", *(names[p] for p in paths)], rows),
    ]
