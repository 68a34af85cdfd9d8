"""The benchmark's backend, run as its own process: `python -m tests.bench.fake [--kind K]`.

`lean` (the default) is a raw asyncio server (httptools, answers rendered once and cached) that
answers like llama-server: one `send` per SSE chunk, as fast as the loop goes, or paced like a
model (`interval_ms` between chunks). `fakebackend` is the test suite's `FakeBackend` (uvicorn +
ASGI, llama.cpp flavour), kept to show how much its own cost shifts the direct baseline. Both take
`POST /bench/mode {"reply": "text"|"tool", "chunks": N, "interval_ms": T}` to choose the next
answers, print their port on stdout, and exit when stdin closes. The lean fake also obeys a
marker anywhere in a request (`marker(mode)`), so that a mixed load picks its answer per request.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httptools
import orjson

from tests.bench.lifeline import stop_event

__all__ = ["MODEL", "Mode", "expected_text", "main", "marker", "render"]

MODEL = "bench-model"
TOOL_ARGUMENTS = {"command": "ls -la", "description": "List the files in the current directory"}
_MODELS = orjson.dumps(
    {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]}
)
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


_MARKER = re.compile(rb"\[bench reply=(text|tool) chunks=(\d+) interval_ms=(\d+)\]")


@dataclass(frozen=True)
class Mode:
    reply: str = "text"  # "text" | "tool"
    chunks: int = 3
    interval_ms: int = 0  # between SSE chunks: 20 is a model at 50 tokens/s

    @classmethod
    def from_json(cls, raw: bytes) -> Mode:
        data = orjson.loads(raw)
        mode = cls(
            str(data.get("reply", "text")),
            int(data.get("chunks", 3)),
            int(data.get("interval_ms", 0)),
        )
        if mode.reply not in ("text", "tool") or mode.chunks < 1 or mode.interval_ms < 0:
            raise ValueError(f"bad mode {data!r}")
        return mode


def marker(mode: Mode) -> str:
    """Text that, anywhere in a request's prompt, makes the lean fake answer it with `mode`."""
    return f"[bench reply={mode.reply} chunks={mode.chunks} interval_ms={mode.interval_ms}]"


def expected_text(mode: Mode) -> str:
    """The text the model answers in `mode` (a text reply)."""
    return "".join(_pieces(mode))


def _pieces(mode: Mode) -> list[str]:
    if mode.reply == "tool":
        arguments = orjson.dumps(TOOL_ARGUMENTS).decode()
        size = -(-len(arguments) // mode.chunks)
        return [arguments[i : i + size] for i in range(0, len(arguments), size)]
    if mode.chunks <= 8:
        words = "Hi! I am the benchmark's fake model, answering at once.".split(" ")
        size = -(-len(words) // mode.chunks)
        return [" ".join(words[i : i + size]) + " " for i in range(0, len(words), size)]
    return [f"w{i} " for i in range(mode.chunks)]


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    chunk = {
        "choices": [{"finish_reason": finish, "index": 0, "delta": delta}],
        "created": 1767225600,
        "id": "chatcmpl-bench",
        "model": MODEL,
        "system_fingerprint": "b6800-bench",
        "object": "chat.completion.chunk",
        **extra,
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _usage(completion: int) -> dict[str, int]:
    return {"completion_tokens": completion, "prompt_tokens": 100, "total_tokens": 100 + completion}


def render(mode: Mode, *, stream: bool) -> list[bytes]:
    """The whole answer as the pieces to write: one per SSE event, or one JSON answer."""
    pieces = _pieces(mode)
    tool = mode.reply == "tool"
    call = {"id": "call_bench0001", "type": "function"}
    if not stream:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if tool else "".join(pieces),
        }
        if tool:
            message["tool_calls"] = [
                {**call, "function": {"name": "Bash", "arguments": "".join(pieces)}}
            ]
        body = orjson.dumps(
            {
                "choices": [
                    {
                        "finish_reason": "tool_calls" if tool else "stop",
                        "index": 0,
                        "message": message,
                    }
                ],
                "created": 1767225600,
                "model": MODEL,
                "system_fingerprint": "b6800-bench",
                "object": "chat.completion",
                "usage": _usage(len(pieces)),
                "id": "chatcmpl-bench",
            }
        )
        head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}"
        return [head.encode() + b"\r\n\r\n" + body]
    events = [_chunk({"role": "assistant", "content": None})]
    if tool:
        header = {"index": 0, **call, "function": {"name": "Bash", "arguments": ""}}
        events.append(_chunk({"tool_calls": [header]}))
        events += [
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in pieces
        ]
    else:
        events += [_chunk({"content": p}) for p in pieces]
    finish = "tool_calls" if tool else "stop"
    events.append(_chunk({}, finish, usage=_usage(len(pieces))))
    events.append(b"data: [DONE]\n\n")
    framed = [b"%x\r\n%s\r\n" % (len(e), e) for e in events]
    framed[0] = _SSE_HEAD + framed[0]
    framed[-1] += b"0\r\n\r\n"
    return framed


def _plain(status: str, body: bytes = b"") -> bytes:
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


class LeanServer:
    """The raw asyncio fake: answers are rendered once per (mode, stream) and replayed."""

    def __init__(self) -> None:
        self.mode = Mode()
        self._cache: dict[tuple[Mode, bool], list[bytes]] = {}

    def answer(self, method: bytes, url: bytes, body: bytes) -> tuple[list[bytes], float]:
        """The pieces to write, and the seconds to wait between them."""
        if url == b"/v1/chat/completions" and method == b"POST":
            # Not parsed: the gateway and the direct client both write `"stream":true` this way.
            stream = b'"stream":true' in body
            mode = self.mode
            if b"[bench " in body and (found := _MARKER.search(body)):
                mode = Mode(found[1].decode(), int(found[2]), int(found[3]))
            key = (mode, stream)
            if key not in self._cache:
                self._cache[key] = render(mode, stream=stream)
            return self._cache[key], (mode.interval_ms / 1000 if stream else 0.0)
        if url == b"/v1/models" and method in (b"GET", b"HEAD"):
            return [_plain("200 OK", _MODELS)], 0.0
        if url == b"/bench/mode" and method == b"POST":
            try:
                self.mode = Mode.from_json(body)
            except (ValueError, TypeError, AttributeError) as exc:
                return [_plain("400 Bad Request", orjson.dumps({"error": str(exc)}))], 0.0
            return [_plain("200 OK", b"{}")], 0.0
        return [_plain("404 Not Found", b'{"error":"not found"}')], 0.0

    def protocol(self) -> asyncio.Protocol:
        return _LeanProtocol(self)


class _LeanProtocol(asyncio.Protocol):
    def __init__(self, server: LeanServer) -> None:
        self._server = server
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.close()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        method = self._parser.get_method()
        pieces, interval = self._server.answer(method, self._url, b"".join(self._body))
        self._url, self._body = b"", []
        assert self._transport is not None
        if interval > 0:
            task = asyncio.get_running_loop().create_task(self._paced(pieces, interval))
            _PACED.add(task)
            task.add_done_callback(_PACED.discard)
            return
        for piece in pieces:
            # One write per SSE event: each goes out as its own send(), like a token server.
            self._transport.write(piece)

    async def _paced(self, pieces: list[bytes], interval: float) -> None:
        transport = self._transport
        assert transport is not None
        loop = asyncio.get_running_loop()
        # Due times from the start, not sleeps in a row: a late wake-up does not slow the pace.
        start = loop.time()
        for i, piece in enumerate(pieces):
            delay = start + i * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if transport.is_closing():
                return  # the client went away mid-stream
            transport.write(piece)


_PACED: set[asyncio.Task[None]] = set()  # running paced answers (the loop keeps weak references)


async def _serve_lean(ready: Callable[[int], None], stop: asyncio.Event) -> None:
    server = LeanServer()
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(server.protocol, "127.0.0.1", 0, backlog=1024)
    ready(listener.sockets[0].getsockname()[1])
    async with listener:
        await stop.wait()


def _serve_fakebackend(ready: Callable[[int], None], stop: threading.Event) -> None:
    from tests.fakes import FakeBackend, Text, ToolCall, ToolCalls

    class BenchBackend(FakeBackend):
        async def _app(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] == "/bench/mode":
                message = await receive()
                mode = Mode.from_json(message.get("body", b""))
                if mode.reply == "tool":
                    call = ToolCall("Bash", TOOL_ARGUMENTS, id="call_bench0001")
                    self.default_reply = ToolCalls([call], chunks=mode.chunks)
                else:
                    self.default_reply = Text("".join(_pieces(mode)), chunks=mode.chunks)
                headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": b"{}"})
                return
            with self._lock:
                self._requests.clear()  # thousands of recorded bodies would grow the heap
            await super()._app(scope, receive, send)

    # As many slots as the load has connections: with llama.cpp's default of one, the gateway
    # queues the 32 concurrent requests and turns most away with 529, as it should.
    with BenchBackend("llamacpp", models=[MODEL], slots=64) as backend:
        ready(backend.port)
        stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.fake")
    parser.add_argument("--kind", choices=("lean", "fakebackend"), default="lean")
    args = parser.parse_args(argv)

    def ready(port: int) -> None:
        print(port, flush=True)

    stopped = stop_event()
    if args.kind == "fakebackend":
        _serve_fakebackend(ready, stopped)
        return 0

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def relay() -> None:
            stopped.wait()
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=relay, daemon=True).start()
        await _serve_lean(ready, stop)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
