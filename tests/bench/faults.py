"""The fault run: hostile backends and clients against one gateway, each outcome checked against
what the gateway must answer for that fault, and anything else counted as unaccounted.

The backend (`fault_backend()`, or `python -m tests.bench.faults` as its own process) is one
RawBackend answering each request with the fault its text names. The gateway it fronts must run
with `FAULT_TIMEOUTS` (gateway_proc `--faults`) so that trickles and silences end in seconds.
Used by the benchmark's `faults` section (a soak of minutes, with the latency figures) and by
tests/gateway/load/test_memory_after_faults.py (one round, RSS back to where it started).
"""

from __future__ import annotations

import asyncio
import random
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil

from tests.bench.lifeline import stop_event
from tests.fakes.faults import (
    by_marker,
    cut_stream,
    fault_marker,
    headers_then_silence,
    huge_line,
    malformed_stream,
    trickle,
)
from tests.fakes.wire import RawBackend, answer
from tests.gateway.translate.grammar import accumulate, assert_valid_stream, parse_sse

__all__ = [
    "FAULT_TIMEOUTS",
    "JOBS",
    "MB",
    "TEXT",
    "Tally",
    "fault_backend",
    "fault_round",
    "measure_faults",
    "normal_latencies",
    "run_job",
    "SlowClients",
]

MB = 1024 * 1024
TEXT = "Hello from the fault backend."
# The deadline leaves room for a normal answer on a loaded machine; trickles still meet it.
FAULT_TIMEOUTS = {"first_byte": 10.0, "idle": 2.0, "deadline": 8.0}
HEADER_TIMEOUT = 2.0
# What a client waits for any one answer: longer than every timeout above, so a hang is seen.
CLIENT_TIMEOUT = 30.0


def fault_backend() -> RawBackend:
    faults = {
        "huge_line": huge_line(50 * MB),
        "cut": cut_stream(),
        "malformed": malformed_stream(),
        "trickle": trickle(0.5),
        "silence": headers_then_silence(30),
        "paced": answer(TEXT, pieces=20, delay=0.05),
    }
    return RawBackend(by_marker(faults, answer(TEXT)))


@dataclass
class Tally:
    """Outcomes by kind (`expected` ones are what the fault must produce), the unaccounted
    ones with their first examples, and the normal requests' latencies."""

    outcomes: Counter[str] = field(default_factory=Counter)
    unaccounted: list[str] = field(default_factory=list)
    normal_ms: list[float] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.outcomes.values())

    def add(self, job: str, outcome: str | None, detail: str = "") -> None:
        if outcome is None:
            self.outcomes["unaccounted"] += 1
            if len(self.unaccounted) < 10:
                self.unaccounted.append(f"{job}: {detail[:300]}")
        else:
            self.outcomes[outcome] += 1


Job = Callable[[httpx.AsyncClient, "Tally"], Awaitable[str | None]]


def _body(marker: str, stream: bool) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": f"hello {marker}"}],
    }


def _stream_end(content: bytes) -> tuple[str, str]:
    """(the last event's name, its error message or the text) of a stream that must follow the
    grammar, an error event allowed at its end."""
    events = parse_sse(content)
    assert_valid_stream(events, allow_error=True)
    name, data = events[-1]
    if name == "error":
        return name, str(data["error"]["message"])
    return name, "".join(b.get("text", "") for b in accumulate(events)["content"])


async def _post(client: httpx.AsyncClient, marker: str, stream: bool) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    response = await client.post("/v1/messages", json=_body(marker, stream))
    return response.status_code, response.content, (time.perf_counter() - started) * 1000


async def _normal(client: httpx.AsyncClient, tally: Tally) -> str | None:
    status, content, ms = await _post(client, "", False)
    if status == 200 and TEXT in content.decode():
        tally.normal_ms.append(ms)
        return "ok"
    raise AssertionError(f"{status} after {ms:.0f} ms: {content[:200]!r}")


async def _streamed(client: httpx.AsyncClient, tally: Tally) -> str | None:
    status, content, _ = await _post(client, fault_marker("paced"), True)
    return "ok-stream" if status == 200 and _stream_end(content) == ("message_stop", TEXT) else None


def _stream_error(fault: str, wanted: str, outcome: str) -> Job:
    """A streamed request to `fault`: an error (event, or HTTP before the commit) that says
    `wanted`."""

    async def job(client: httpx.AsyncClient, tally: Tally) -> str | None:
        status, content, _ = await _post(client, fault_marker(fault), True)
        if status != 200:
            return outcome if wanted in content.decode(errors="replace") else None
        name, message = _stream_end(content)
        return outcome if name == "error" and wanted in message else None

    return job


async def _trickled(client: httpx.AsyncClient, tally: Tally) -> str | None:
    status, content, _ = await _post(client, fault_marker("trickle"), False)
    return "deadline-504" if status == 504 and b"did not finish" in content else None


async def _client_leaves(client: httpx.AsyncClient, tally: Tally) -> str | None:
    body = _body(fault_marker("paced"), True)
    async with client.stream("POST", "/v1/messages", json=body) as response:
        if response.status_code != 200:
            return None
        async for data in response.aiter_bytes():
            if b"content_block_delta" in data:
                return "client-left"  # leaving the block closes the connection mid-stream
    return None


async def _slow_client(client: httpx.AsyncClient, tally: Tally) -> str | None:
    port = client.base_url.port
    assert port is not None
    closed = await asyncio.to_thread(_dribble_until_closed, port, HEADER_TIMEOUT + 5)
    return "slow-client-closed" if closed else None


_SLOW_HEAD = b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def _dribble_until_closed(port: int, limit: float) -> bool:
    head = _SLOW_HEAD
    with socket.create_connection(("127.0.0.1", port), timeout=0.3) as sock:
        started = time.monotonic()
        while time.monotonic() - started < limit:
            try:
                sock.send(head[:1] if head else b"x")
                head = head[1:]
                if sock.recv(1) == b"":
                    return True
            except TimeoutError:
                continue
            except OSError:
                return True
    return False


# Name → (job, weight in the soak's mix).
JOBS: dict[str, tuple[Job, int]] = {
    "normal": (_normal, 40),
    "stream": (_streamed, 20),
    "huge_line": (_stream_error("huge_line", "longer than 4 MiB", "line-too-long"), 3),
    "cut": (_stream_error("cut", "before the model finished", "cut-reported"), 8),
    "malformed": (_stream_error("malformed", "not JSON", "malformed-reported"), 8),
    "silence": (_stream_error("silence", "did not send more within", "idle-timeout"), 4),
    "trickle": (_trickled, 4),
    "client_leaves": (_client_leaves, 8),
    "slow_client": (_slow_client, 5),
}


def new_client(port: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        timeout=CLIENT_TIMEOUT,
        limits=httpx.Limits(max_connections=400, max_keepalive_connections=32),
    )


async def run_job(name: str, client: httpx.AsyncClient, tally: Tally) -> None:
    job, _ = JOBS[name]
    try:
        outcome = await job(client, tally)
        detail = "an answer that does not fit the fault"
    except Exception as exc:  # a hang, a broken stream, a refused connection: all unaccounted
        outcome, detail = None, f"{type(exc).__name__}: {exc}"
    tally.add(name, outcome, detail)


async def fault_round(port: int, tally: Tally, *, streams: int = 200) -> None:
    """Each fault a few times at once, and `streams` concurrent paced streams."""
    async with new_client(port) as client:
        names = ["huge_line"] * 3 + ["cut"] * 10 + ["malformed"] * 5 + ["trickle"] * 5
        names += ["silence"] * 3 + ["client_leaves"] * 10 + ["slow_client"] * 10
        names += ["normal"] * 20 + ["stream"] * streams
        await asyncio.gather(*(run_job(name, client, tally) for name in names))


async def soak(port: int, tally: Tally, *, seconds: float, workers: int = 8) -> None:
    """The weighted mix from `workers` clients for `seconds`."""
    rng = random.Random(11)
    names = list(JOBS)
    weights = [JOBS[n][1] for n in names]
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        async with new_client(port) as client:
            while time.monotonic() < deadline:
                await run_job(rng.choices(names, weights)[0], client, tally)

    await asyncio.gather(*(worker() for _ in range(workers)))


async def normal_latencies(port: int, count: int) -> list[float]:
    """`count` small non-streamed requests one after another: their times in ms."""
    tally = Tally()
    async with new_client(port) as client:
        for _ in range(count):
            await run_job("normal", client, tally)
    if tally.unaccounted:
        raise RuntimeError(f"a normal request failed: {tally.unaccounted[0]}")
    return tally.normal_ms


class SlowClients:
    """`async with SlowClients(port, n):` keeps `n` connections open that send their headers
    a byte every 0.2 s (each one closed is replaced), on a thread of its own."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.opened = 0
        self._stop = threading.Event()
        self._task: asyncio.Future[None] | None = None

    async def __aenter__(self) -> SlowClients:
        self._task = asyncio.ensure_future(asyncio.to_thread(self._run))
        await asyncio.sleep(0.5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    def _run(self) -> None:
        sent: dict[socket.socket, int] = {}
        try:
            while not self._stop.is_set():
                while len(sent) < self.count:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                    sock.setblocking(False)
                    sent[sock] = 0
                    self.opened += 1
                for sock, position in list(sent.items()):
                    try:
                        sock.send(_SLOW_HEAD[position : position + 1] or b"a")
                        sent[sock] = position + 1
                    except OSError:
                        sock.close()
                        del sent[sock]
                time.sleep(0.2)
        finally:
            for sock in sent:
                sock.close()


async def _huge_lines_meanwhile(port: int, tally: Tally, stop: asyncio.Event) -> None:
    """Two clients asking for 50 MB lines, one after another, until `stop`."""

    async def one() -> None:
        async with new_client(port) as client:
            while not stop.is_set():
                await run_job("huge_line", client, tally)

    await asyncio.gather(one(), one())


async def _idle_and_during_lines(
    port: int, tally: Tally, samples: int, windows: int = 5
) -> tuple[list[float], list[float]]:
    """A normal client's latencies idle and while 50 MB lines arrive, taken in alternating
    windows, so that whatever else the machine does at the time weighs on both alike."""
    idle: list[float] = []
    during: list[float] = []
    each = max(1, samples // windows)
    for _ in range(windows):
        idle += await normal_latencies(port, each)
        stop = asyncio.Event()
        lines = asyncio.create_task(_huge_lines_meanwhile(port, tally, stop))
        await asyncio.sleep(0.5)
        during += await normal_latencies(port, each)
        stop.set()
        await lines
    return idle, during


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def measure_faults(
    port: int, pid: int, *, seconds: float, samples: int, settle: float = 30.0
) -> dict[str, float]:
    """The fault soak's figures: a normal client's latency idle, while 50 MB lines arrive and
    beside 200 slow clients; then a round of every fault with 200 concurrent streams and the
    weighted mix for `seconds`; outcomes by kind, unaccounted ones (which must be 0), the
    gateway's RSS and open descriptors before and after (once memory settled, up to `settle`
    seconds)."""
    process = psutil.Process(pid)
    warm = Tally()
    async with new_client(port) as client:
        for name in JOBS:
            await run_job(name, client, warm)
    if warm.unaccounted:
        raise RuntimeError(f"the fault run's warm-up failed: {warm.unaccounted}")
    # Past the heap trimmer's collection and trim after the warm-up (2 s quiet): a settled start.
    await asyncio.sleep(6.0)
    rss_start, fds_start = process.memory_info().rss, process.num_fds()
    tally = Tally()
    idle, during_lines = await _idle_and_during_lines(port, tally, samples)
    async with SlowClients(port, 200) as slow:
        beside_slow = await normal_latencies(port, samples)
    await fault_round(port, tally, streams=200)
    started = time.monotonic()
    await soak(port, tally, seconds=seconds)
    soaked = time.monotonic() - started
    deadline = time.monotonic() + settle
    while True:
        await asyncio.sleep(1.0)
        rss_end, fds_end = process.memory_info().rss, process.num_fds()
        back = rss_end - rss_start <= 10 * MB and fds_end <= fds_start + 4
        if back or time.monotonic() > deadline:
            break
    for example in tally.unaccounted:
        print(f"[bench] unaccounted: {example}", file=sys.stderr)
    figures = {
        "soak_seconds": soaked,
        "requests": tally.requests + len(idle) + len(during_lines) + len(beside_slow),
        "unaccounted": tally.outcomes["unaccounted"],
        "normal_idle_p50_ms": _p(idle, 0.5),
        "normal_idle_p99_ms": _p(idle, 0.99),
        "normal_huge_lines_p99_ms": _p(during_lines, 0.99),
        "huge_lines_p99_ratio": _p(during_lines, 0.99) / _p(idle, 0.99),
        "normal_slow_clients_p99_ms": _p(beside_slow, 0.99),
        "slow_clients_p99_ratio": _p(beside_slow, 0.99) / _p(idle, 0.99),
        "slow_connections_opened": slow.opened,
        "rss_start_mb": rss_start / MB,
        "rss_end_mb": rss_end / MB,
        "rss_growth_mb": (rss_end - rss_start) / MB,
        "fds_start": fds_start,
        "fds_end": fds_end,
    }
    figures |= {f"outcome.{kind}": count for kind, count in sorted(tally.outcomes.items())}
    return figures


def main() -> int:
    """The fault backend as a process: prints its port, stops when stdin closes."""
    with fault_backend() as backend:
        print(backend.url.rsplit(":", 1)[1].split("/")[0], flush=True)
        stop_event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
