"""The workloads, each sent to the gateway and straight to the backend in the same run: the
request pairs, and the measurements that turn their timings into figures."""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.schemas.anthropic import parse_messages_request
from gateway.translate.request import anthropic_to_openai
from tests.bench.client import Connection, Result, concurrent, request_bytes
from tests.bench.fake import MODEL
from tests.paths import load_fixture

__all__ = [
    "DIRECT_FIRST",
    "FIXTURES",
    "GATEWAY_FIRST",
    "SMALL",
    "Pair",
    "Targets",
    "fixture_pair",
    "fixture_request",
    "measure_fixtures",
    "measure_latency",
    "measure_stream",
    "measure_throughput",
    "percentile",
    "set_mode",
    "small_pair",
]

FIXTURES = ("claude-code-2.1.197-print-say-hi", "claude-code-2.1.197-print-bash-roundtrip-turn2")
# The first piece of model output: text or a tool call from the backend (a role-only chunk has
# null or empty content), the first content block from the gateway.
DIRECT_FIRST = re.compile(rb'"content":"[^"]|"tool_calls":\[')
GATEWAY_FIRST = re.compile(rb"event: content_block_start")
SMALL = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "Say hi in five words."}],
}
_SKIPPED_HEADERS = {"host", "content-length", "authorization", "accept-encoding", "connection"}
Figures = dict[str, float]


@dataclass(frozen=True)
class Targets:
    fake_port: int
    gateway_port: int
    gateway_cpu: Callable[[], float]
    gateway_pid: int


@dataclass(frozen=True)
class Pair:
    """One workload: the Anthropic request for the gateway, and for the backend the very body
    the gateway sends upstream for it (the gateway's own translator makes it)."""

    gateway: bytes
    direct: bytes
    anthropic_size: int


def _pair(targets: Targets, body: dict[str, Any], path: str, headers: dict[str, str]) -> Pair:
    raw = orjson.dumps(body)
    translated = anthropic_to_openai(
        parse_messages_request(raw), MODEL, stream=bool(body.get("stream"))
    )
    return Pair(
        request_bytes(targets.gateway_port, path, raw, headers),
        request_bytes(targets.fake_port, "/v1/chat/completions", orjson.dumps(translated.body)),
        len(raw),
    )


def small_pair(
    targets: Targets, *, stream: bool = False, headers: dict[str, str] | None = None
) -> Pair:
    return _pair(targets, {**SMALL, "stream": stream}, "/v1/messages", headers or {})


def fixture_request(name: str) -> tuple[dict[str, Any], str, dict[str, str]]:
    """A recorded Claude Code request: its body, path and headers (less the per-connection ones)."""
    fixture = load_fixture(name)
    headers = {k: v for k, v in fixture["headers"].items() if k.lower() not in _SKIPPED_HEADERS}
    path = fixture["source"].rsplit(" ", 1)[-1]
    return fixture["body"], path if path.startswith("/") else "/v1/messages", headers


def fixture_pair(targets: Targets, name: str, *, stream: bool) -> Pair:
    body, path, headers = fixture_request(name)
    return _pair(targets, {**body, "stream": stream}, path, headers)


async def set_mode(fake_port: int, reply: str, chunks: int, interval_ms: int = 0) -> None:
    connection = await Connection.open(fake_port)
    try:
        body = orjson.dumps({"reply": reply, "chunks": chunks, "interval_ms": interval_ms})
        result = await connection.request(request_bytes(fake_port, "/bench/mode", body))
    finally:
        connection.close()
    if result.status != 200:
        raise RuntimeError(f"the fake refused the mode {reply}/{chunks}: {result.status}")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def _series(
    connection: Connection,
    raw: bytes,
    count: int,
    first: re.Pattern[bytes] | None,
    expect: bytes,
    what: str,
) -> list[Result]:
    """`count` requests one after another on one keep-alive connection; the first one's body is
    checked for `expect`."""
    result = await connection.request(raw, first=first, keep_body=True)
    if result.status != 200 or expect not in result.body:
        raise RuntimeError(f"{what} answered {result.status}: {result.body[:400]!r}")
    results = [result]
    for _ in range(count - 1):
        result = await connection.request(raw, first=first)
        if result.status != 200:
            raise RuntimeError(f"{what} answered {result.status}")
        results.append(result)
    return results


class _Pairs:
    """A keep-alive connection to each side, for one workload section."""

    def __init__(self, direct: Connection, gateway: Connection) -> None:
        self.direct = direct
        self.gateway = gateway

    @classmethod
    async def open(cls, targets: Targets) -> _Pairs:
        return cls(
            await Connection.open(targets.fake_port), await Connection.open(targets.gateway_port)
        )

    def close(self) -> None:
        self.direct.close()
        self.gateway.close()


def _median(rows: list[Figures]) -> Figures:
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


async def measure_latency(
    targets: Targets, *, reps: int, count: int, headers: dict[str, str] | None = None
) -> Figures:
    """The small request at concurrency 1: p50 / p99 each, and their difference per repetition
    (`headers`: sent to the gateway too, a client key)."""
    await set_mode(targets.fake_port, "text", 3)
    pair = small_pair(targets, headers=headers)
    conns = await _Pairs.open(targets)
    try:
        await _series(conns.direct, pair.direct, count // 2, None, b"choices", "the backend")
        await _series(conns.gateway, pair.gateway, count // 2, None, b"message", "the gateway")
        rows: list[Figures] = []
        for _ in range(reps):
            direct = await _series(conns.direct, pair.direct, count, None, b"choices", "backend")
            cpu = targets.gateway_cpu()
            gateway = await _series(
                conns.gateway, pair.gateway, count, None, b'"type":"message"', "the gateway"
            )
            cpu = targets.gateway_cpu() - cpu
            row = _spread([r.total_ms for r in direct], [r.total_ms for r in gateway])
            rows.append(row | {"gateway_cpu_ms": cpu * 1000 / count})
    finally:
        conns.close()
    return _median(rows)


def _spread(direct: list[float], gateway: list[float]) -> Figures:
    d50, d99 = percentile(direct, 0.5), percentile(direct, 0.99)
    g50, g99 = percentile(gateway, 0.5), percentile(gateway, 0.99)
    return {
        "direct_p50_ms": d50,
        "direct_p99_ms": d99,
        "gateway_p50_ms": g50,
        "gateway_p99_ms": g99,
        "added_p50_ms": g50 - d50,
        "added_p99_ms": g99 - d99,
    }


async def measure_throughput(
    targets: Targets,
    *,
    reps: int,
    total: int,
    concurrency: int = 32,
    headers: dict[str, str] | None = None,
) -> Figures:
    """The small request from `concurrency` connections at once: requests/s and latency."""
    await set_mode(targets.fake_port, "text", 3)
    pair = small_pair(targets, headers=headers)
    await concurrent(targets.fake_port, pair.direct, concurrency=concurrency, total=total // 4)
    await concurrent(targets.gateway_port, pair.gateway, concurrency=concurrency, total=total // 4)
    rows: list[Figures] = []
    for _ in range(reps):
        direct, direct_s = await concurrent(
            targets.fake_port, pair.direct, concurrency=concurrency, total=total
        )
        cpu = targets.gateway_cpu()
        gateway, gateway_s = await concurrent(
            targets.gateway_port, pair.gateway, concurrency=concurrency, total=total
        )
        cpu = targets.gateway_cpu() - cpu
        for what, results in (("the backend", direct), ("the gateway", gateway)):
            failed = sum(r.status != 200 for r in results)
            if failed:
                raise RuntimeError(f"{what} failed {failed} of {len(results)} requests")
        row = _spread([r.total_ms for r in direct], [r.total_ms for r in gateway])
        row["direct_rps"] = total / direct_s
        row["gateway_rps"] = total / gateway_s
        row["gateway_cpu_ms"] = cpu * 1000 / total
        rows.append(row)
    return _median(rows)


async def measure_stream(
    targets: Targets, *, reps: int, chunks: int = 1000, fake_cpu: Callable[[], float] | None = None
) -> Figures:
    """A `chunks`-event stream with no delay: events/s each way, the gateway's share, its CPU per
    chunk and the first-token delay it adds."""
    await set_mode(targets.fake_port, "text", chunks)
    pair = small_pair(targets, stream=True)
    conns = await _Pairs.open(targets)
    rows: list[Figures] = []
    gateway_cpu = fake_seconds = 0.0
    try:
        await _series(conns.direct, pair.direct, 2, DIRECT_FIRST, b"[DONE]", "the backend")
        await _series(conns.gateway, pair.gateway, 2, GATEWAY_FIRST, b"message_stop", "gateway")
        for _ in range(reps):
            before = fake_cpu() if fake_cpu else 0.0
            (direct,) = await _series(
                conns.direct, pair.direct, 1, DIRECT_FIRST, b"[DONE]", "the backend"
            )
            fake_seconds += (fake_cpu() - before) if fake_cpu else 0.0
            cpu = targets.gateway_cpu()
            (gateway,) = await _series(
                conns.gateway, pair.gateway, 1, GATEWAY_FIRST, b"message_stop", "the gateway"
            )
            gateway_cpu += targets.gateway_cpu() - cpu
            if gateway.events < chunks or direct.events < chunks:
                raise RuntimeError(f"short stream: {direct.events} / {gateway.events} events")
            direct_rate = direct.events / (direct.total_ms / 1000)
            gateway_rate = gateway.events / (gateway.total_ms / 1000)
            rows.append(
                {
                    "direct_events_per_s": direct_rate,
                    "gateway_events_per_s": gateway_rate,
                    "events_share": gateway_rate / direct_rate,
                    "direct_first_ms": direct.first_ms,
                    "gateway_first_ms": gateway.first_ms,
                    "added_first_ms": gateway.first_ms - direct.first_ms,
                    "direct_total_ms": direct.total_ms,
                    "gateway_total_ms": gateway.total_ms,
                }
            )
    finally:
        conns.close()
    figures = _median(rows)
    figures["gateway_cpu_per_chunk_ms"] = gateway_cpu * 1000 / (reps * chunks)
    if fake_cpu is not None:
        figures["fake_cpu_per_chunk_ms"] = fake_seconds * 1000 / (reps * chunks)
    return figures


async def measure_fixtures(targets: Targets, *, reps: int) -> Figures:
    """The recorded Claude Code requests, streamed and not, answered with text or a tool call:
    added latency (JSON) and added time to the first token (SSE)."""
    figures: Figures = {}
    conns = await _Pairs.open(targets)
    try:
        for reply in ("text", "tool"):
            await set_mode(targets.fake_port, reply, 4)
            for name in FIXTURES:
                for stream in (False, True):
                    key = f"{name.removeprefix('claude-code-2.1.197-')}.{reply}"
                    pair = fixture_pair(targets, name, stream=stream)
                    row = await _fixture_rounds(conns, pair, reply, stream, reps)
                    kind = "first_ms" if stream else "total_ms"
                    key += ".stream" if stream else ".json"
                    figures[f"{key}.direct_{kind}"] = row["direct"]
                    figures[f"{key}.added_{kind}"] = row["added"]
                    figures[f"{key}.kb"] = pair.anthropic_size / 1024
    finally:
        conns.close()
    json_added = [v for k, v in figures.items() if k.endswith("added_total_ms")]
    first_added = [v for k, v in figures.items() if k.endswith("added_first_ms")]
    figures["worst_added_json_ms"] = max(json_added)
    figures["worst_added_first_ms"] = max(first_added)
    return figures


async def _fixture_rounds(
    conns: _Pairs, pair: Pair, reply: str, stream: bool, reps: int
) -> Figures:
    expect = b"tool_use" if reply == "tool" else b'"text"'
    direct_first = DIRECT_FIRST if stream else None
    gateway_first = GATEWAY_FIRST if stream else None
    rows: list[Figures] = []
    for _ in range(reps + 1):
        (direct,) = await _series(conns.direct, pair.direct, 1, direct_first, b"choices", "backend")
        (gateway,) = await _series(conns.gateway, pair.gateway, 1, gateway_first, expect, "gateway")
        if stream:
            d, g = direct.first_ms, gateway.first_ms
        else:
            d, g = direct.total_ms, gateway.total_ms
        rows.append({"direct": d, "gateway": g, "added": g - d})
    # The first round warms the gateway's caches and pools up; it is not counted.
    return _median(rows[1:])
