"""Load over time through the gateway: 64 streams at once paced like models, and the soak (a mixed
load for minutes), with the gateway process's memory, descriptors and threads read from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import sys
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson

from tests.bench.client import Connection, Result, request_bytes
from tests.bench.fake import Mode, expected_text, marker
from tests.bench.processes import fd_count, rss_bytes, thread_count
from tests.bench.workloads import (
    DIRECT_FIRST,
    FIXTURES,
    GATEWAY_FIRST,
    SMALL,
    Targets,
    fixture_request,
    percentile,
    set_mode,
    small_pair,
)
from tests.gateway.translate.grammar import accumulate, assert_valid_stream, parse_sse

__all__ = ["RssWatch", "measure_soak", "measure_streams64", "stream_problem"]

MB = 1e6
# One answer in the soak taking longer than this is counted as an error (a stuck request).
REQUEST_TIMEOUT = 60.0
Figures = dict[str, float]


class RssWatch:
    """A process's RSS, read when `async with` starts, every `period` seconds on the running
    loop inside it, and when it ends."""

    def __init__(self, pid: int, period: float) -> None:
        self.pid = pid
        self.period = period
        self.samples: list[tuple[float, int]] = []  # (time.monotonic(), bytes)
        self._task: asyncio.Task[None] | None = None

    def _sample(self) -> None:
        self.samples.append((time.monotonic(), rss_bytes(self.pid)))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            self._sample()

    async def __aenter__(self) -> RssWatch:
        self._sample()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._sample()

    @property
    def first(self) -> int:
        return self.samples[0][1]

    @property
    def peak(self) -> int:
        return max(size for _, size in self.samples)

    def at(self, when: float) -> int:
        """The reading nearest to `when` (a time.monotonic() value)."""
        return min(self.samples, key=lambda sample: abs(sample[0] - when))[1]


def stream_problem(result: Result, text: str | None) -> str | None:
    """Why a streamed answer is not one Claude Code can use (None: it is): Anthropic's event
    grammar, and the whole text when it is known."""
    if result.status != 200:
        return f"status {result.status}: {result.body[:300]!r}"
    try:
        events = parse_sse(result.body)
        assert_valid_stream(events)
        message = accumulate(events)
    except (AssertionError, ValueError, KeyError, IndexError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if text is not None:
        got = "".join(b.get("text", "") for b in message["content"] if b["type"] == "text")
        if got != text:
            return f"the text differs: {len(got)} characters of {len(text)}, {got[:60]!r}…"
    return None


async def _fan_out(
    port: int, raw: bytes, count: int, first: re.Pattern[bytes], *, keep: bool
) -> tuple[list[Result], float]:
    """`count` copies of one request at the same moment, each on its own connection (opened
    first, so that the wall time counts answers only)."""
    connections = await asyncio.gather(*(Connection.open(port) for _ in range(count)))
    started = time.perf_counter()
    try:
        results = await asyncio.gather(
            *(c.request(raw, first=first, keep_body=keep) for c in connections)
        )
    finally:
        for connection in connections:
            connection.close()
    return list(results), time.perf_counter() - started


async def measure_streams64(
    targets: Targets,
    *,
    streams: int = 64,
    chunks: int = 250,
    interval_ms: int = 20,
    settle: float = 2.0,
) -> Figures:
    """`streams` streams at once, each `chunks` chunks `interval_ms` apart (20 ms: a model at 50
    tokens/s), to the backend and then through the gateway: whether every stream through the
    gateway is valid and complete, events/s, first-token delay, the gateway's CPU, and its RSS
    before, at its peak (read every 50 ms) and `settle` seconds after."""
    # The same burst unpaced first, so that the gateway meets the measured one with as many
    # upstream connections pooled as the direct client has connections open.
    await set_mode(targets.fake_port, "text", 20)
    warm = small_pair(targets, stream=True)
    await _fan_out(targets.gateway_port, warm.gateway, streams, GATEWAY_FIRST, keep=False)
    mode = Mode("text", chunks, interval_ms)
    await set_mode(targets.fake_port, mode.reply, mode.chunks, mode.interval_ms)
    pair = small_pair(targets, stream=True)
    direct, direct_s = await _fan_out(
        targets.fake_port, pair.direct, streams, DIRECT_FIRST, keep=False
    )
    if any(r.status != 200 or r.events < chunks or r.first_ns is None for r in direct):
        raise RuntimeError("the backend sent a short stream")
    pid = targets.gateway_pid
    cpu = targets.gateway_cpu()
    async with RssWatch(pid, 0.05) as watch:
        gateway, gateway_s = await _fan_out(
            targets.gateway_port, pair.gateway, streams, GATEWAY_FIRST, keep=True
        )
    cpu = targets.gateway_cpu() - cpu
    await asyncio.sleep(settle)
    after = rss_bytes(pid)
    problems = [p for r in gateway if (p := stream_problem(r, expected_text(mode))) is not None]
    if problems:
        print(
            f"[bench] {len(problems)} of {streams} streams invalid: {problems[0]}", file=sys.stderr
        )
    direct_first = [r.first_ms for r in direct]
    gateway_first = [r.first_ms for r in gateway if r.first_ns is not None]
    if not gateway_first:
        raise RuntimeError(f"no stream through the gateway carried text: {problems[0]}")
    direct_rate = sum(r.events for r in direct) / direct_s
    gateway_rate = sum(r.events for r in gateway) / gateway_s
    return {
        "streams": streams,
        "valid_streams": streams - len(problems),
        "direct_events_per_s": direct_rate,
        "gateway_events_per_s": gateway_rate,
        "events_share": gateway_rate / direct_rate,
        "direct_first_p50_ms": percentile(direct_first, 0.5),
        "gateway_first_p50_ms": percentile(gateway_first, 0.5),
        "added_first_p50_ms": percentile(gateway_first, 0.5) - percentile(direct_first, 0.5),
        "added_first_p99_ms": percentile(gateway_first, 0.99) - percentile(direct_first, 0.99),
        "direct_wall_s": direct_s,
        "gateway_wall_s": gateway_s,
        "gateway_cpu_per_chunk_ms": cpu * 1000 / (streams * chunks),
        "gateway_cpu_share": cpu / gateway_s,
        "rss_before_mb": watch.first / MB,
        "rss_peak_mb": watch.peak / MB,
        "rss_after_mb": after / MB,
    }


# --- the soak ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    name: str
    raw: bytes
    mode: Mode
    stream: bool


@dataclass
class _Tally:
    requests: int = 0
    errors: int = 0
    first_error: str = ""
    small_ms: list[float] = field(default_factory=list)

    def add(self, job: _Job, problem: str | None, total_ms: float) -> None:
        self.requests += 1
        if problem is not None:
            self.errors += 1
            self.first_error = self.first_error or f"{job.name}: {problem}"
        elif job.name == "small.text.json":
            self.small_ms.append(total_ms)


def _marked(body: dict[str, Any], mode: Mode) -> dict[str, Any]:
    """`body` with the fake's marker for `mode` at the end of its system prompt, or of its last
    message when it has none."""
    body = orjson.loads(orjson.dumps(body))
    note = marker(mode)
    system = body.get("system")
    if isinstance(system, list):
        body["system"] = [*system, {"type": "text", "text": note}]
    elif isinstance(system, str):
        body["system"] = f"{system}\n{note}"
    else:
        last = body["messages"][-1]
        content = last["content"]
        if isinstance(content, str):
            last["content"] = f"{content} {note}"
        else:
            last["content"] = [*content, {"type": "text", "text": note}]
    return body


def soak_jobs(port: int) -> list[_Job]:
    """The soak's mix: the small request answered with text or a tool call, a 200-chunk stream
    as fast as it goes, a 50-chunk stream at 100 tokens/s, and the two Claude Code fixtures
    streamed and not (one answered with text, one with a tool call)."""
    jobs: list[_Job] = []
    smalls = (
        ("small.text.json", Mode("text", 3), False),
        ("small.tool.json", Mode("tool", 4), False),
        ("small.text.stream", Mode("text", 200), True),
        ("small.paced.stream", Mode("text", 50, 10), True),
    )
    for name, mode, stream in smalls:
        body = orjson.dumps(_marked({**SMALL, "stream": stream}, mode))
        jobs.append(_Job(name, request_bytes(port, "/v1/messages", body), mode, stream))
    for fixture, reply in zip(FIXTURES, ("text", "tool"), strict=True):
        base, path, headers = fixture_request(fixture)
        short = fixture.removeprefix("claude-code-2.1.197-")
        for stream in (False, True):
            mode = Mode(reply, 4)
            body = orjson.dumps(_marked({**base, "stream": stream}, mode))
            name = f"{short}.{reply}.{'stream' if stream else 'json'}"
            jobs.append(_Job(name, request_bytes(port, path, body, headers), mode, stream))
    return jobs


def _problem(job: _Job, result: Result) -> str | None:
    if job.stream:
        problem = stream_problem(
            result, expected_text(job.mode) if job.mode.reply == "text" else None
        )
        if problem is None and job.mode.reply == "tool" and b'"tool_use"' not in result.body:
            problem = "no tool_use block"
        return problem
    if result.status != 200:
        return f"status {result.status}: {result.body[:300]!r}"
    try:
        message = orjson.loads(result.body)
        kinds = [block["type"] for block in message["content"]]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        return f"{type(exc).__name__}: {result.body[:300]!r}"
    wanted = "tool_use" if job.mode.reply == "tool" else "text"
    return None if wanted in kinds else f"no {wanted} block: {result.body[:300]!r}"


async def _mix(port: int, jobs: list[_Job], *, workers: int, seconds: float, tally: _Tally) -> None:
    """`workers` connections, each sending the jobs in turn (from a different starting point)
    until `seconds` have passed."""
    deadline = time.monotonic() + seconds

    async def worker(index: int) -> None:
        connection = await Connection.open(port)
        try:
            for job in itertools.islice(itertools.cycle(jobs), index % len(jobs), None):
                if time.monotonic() >= deadline:
                    return
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT):
                        result = await connection.request(job.raw, keep_body=True)
                except (ConnectionError, TimeoutError) as exc:
                    tally.add(job, f"{type(exc).__name__}: {exc}", 0.0)
                    connection.close()
                    connection = await Connection.open(port)
                    continue
                tally.add(job, _problem(job, result), result.total_ms)
        finally:
            connection.close()

    await asyncio.gather(*(worker(i) for i in range(workers)))


async def measure_soak(
    targets: Targets, *, seconds: float, workers: int = 8, settle: float = 2.0
) -> Figures:
    """The mix from `workers` connections for `seconds`, after a warm-up of the same: requests
    done, errors, the gateway's RSS at the start, the middle and the end, its open descriptors
    and threads at the start and the end (each read `settle` seconds after the load stops)."""
    port, pid = targets.gateway_port, targets.gateway_pid
    jobs = soak_jobs(port)
    warm = _Tally()
    await _mix(port, jobs, workers=workers, seconds=max(2.0, min(10.0, seconds / 6)), tally=warm)
    if warm.errors:
        raise RuntimeError(f"the soak's warm-up failed {warm.errors} times: {warm.first_error}")
    await asyncio.sleep(settle)
    fds_start, threads_start = fd_count(pid), thread_count(pid)
    tally = _Tally()
    started = time.monotonic()
    async with RssWatch(pid, 1.0) as watch:
        await _mix(port, jobs, workers=workers, seconds=seconds, tally=tally)
    elapsed = time.monotonic() - started
    await asyncio.sleep(settle)
    rss_end = rss_bytes(pid)
    if tally.errors:
        print(f"[bench] the soak saw {tally.errors} errors: {tally.first_error}", file=sys.stderr)
    return {
        "seconds": elapsed,
        "workers": workers,
        "requests": tally.requests,
        "errors": tally.errors,
        "requests_per_s": tally.requests / elapsed,
        "small_p50_ms": percentile(tally.small_ms, 0.5) if tally.small_ms else float("nan"),
        "small_p99_ms": percentile(tally.small_ms, 0.99) if tally.small_ms else float("nan"),
        "rss_start_mb": watch.first / MB,
        "rss_middle_mb": watch.at(started + elapsed / 2) / MB,
        "rss_end_mb": rss_end / MB,
        "rss_growth_mb": (rss_end - watch.first) / MB,
        "rss_peak_mb": watch.peak / MB,
        "fds_start": fds_start,
        "fds_end": fd_count(pid),
        "threads_start": threads_start,
        "threads_end": thread_count(pid),
    }
