"""The load generator: keep-alive HTTP/1.1 connections on asyncio protocols with httptools
parsing, so that the client costs the same few microseconds for the gateway and the backend."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

import httptools

__all__ = ["Connection", "Result", "concurrent", "request_bytes"]


@dataclass(frozen=True, slots=True)
class Result:
    status: int
    sent_ns: int
    # When the first piece of model output arrived (the `first` pattern); None if never.
    first_ns: int | None
    done_ns: int
    # SSE events received (blank-line separators); 0 for a JSON answer.
    events: int
    body: bytes

    @property
    def total_ms(self) -> float:
        return (self.done_ns - self.sent_ns) / 1e6

    @property
    def first_ms(self) -> float:
        if self.first_ns is None:
            raise ValueError("the answer carried no model output")
        return (self.first_ns - self.sent_ns) / 1e6


def request_bytes(
    port: int, path: str, body: bytes, headers: dict[str, str] | None = None
) -> bytes:
    """A complete POST, built once and written as is for every repetition."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"host: 127.0.0.1:{port}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Result] | None = None
        self._closed: BaseException | None = None
        self._first: re.Pattern[bytes] | None = None
        self._keep = False
        self._reset()

    def _reset(self) -> None:
        self._status = 0
        self._sent = 0
        self._first_ns: int | None = None
        self._events = 0
        self._tail = b""
        self._parts: list[bytes] = []

    @classmethod
    async def open(cls, port: int, host: str = "127.0.0.1") -> Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, host, port)
        return protocol

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def request(
        self, raw: bytes, *, first: re.Pattern[bytes] | None = None, keep_body: bool = False
    ) -> Result:
        if self._transport is None or self._closed is not None:
            raise ConnectionError(f"the connection is closed ({self._closed})")
        self._reset()
        self._first = first
        self._keep = keep_body
        self._waiter = asyncio.get_running_loop().create_future()
        self._sent = time.perf_counter_ns()
        self._transport.write(raw)
        return await self._waiter

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"bad HTTP answer: {exc}"))
            self.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._closed = exc or ConnectionResetError("closed by the server")
        self._fail(ConnectionError(f"the server closed the connection ({self._closed})"))

    def _fail(self, exc: BaseException) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    # --- httptools callbacks ------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        if self._first is not None and self._first_ns is None:
            # The tail covers a pattern cut in two by a read boundary.
            if self._first.search(self._tail + body):
                self._first_ns = time.perf_counter_ns()
        self._events += body.count(b"\n\n")
        if self._tail.endswith(b"\n") and body.startswith(b"\n"):
            self._events += 1
        self._tail = body[-48:]
        if self._keep:
            self._parts.append(body)

    def on_message_complete(self) -> None:
        done = time.perf_counter_ns()
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        waiter.set_result(
            Result(
                self._status,
                self._sent,
                self._first_ns,
                done,
                self._events,
                b"".join(self._parts),
            )
        )


async def concurrent(
    port: int, raw: bytes, *, concurrency: int, total: int
) -> tuple[list[Result], float]:
    """`total` requests over `concurrency` connections, each sending its next request as soon as
    its answer is complete. Returns the results and the wall time in seconds."""
    connections = await asyncio.gather(*(Connection.open(port) for _ in range(concurrency)))
    left = total
    results: list[Result] = []

    async def worker(connection: Connection) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            results.append(await connection.request(raw))

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        for connection in connections:
            connection.close()
    return results, time.perf_counter() - started
