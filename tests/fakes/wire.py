"""Backends that misbehave below the HTTP surface, served raw by asyncio on a thread: HTTP/1.0
with close-delimited bodies, keep-alive connections closed after every answer, bodies too large
to build in memory, streams of very many chunks, and a port that accepts and never answers."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson

__all__ = [
    "GOOD_MODEL",
    "ChatReply",
    "HalfAnswer",
    "RawBackend",
    "RawRequest",
    "SilentPort",
    "answer",
    "beside_a_good_one",
    "chunk_frame",
    "close_after_each",
    "drop_reused",
    "http10",
    "huge_json",
    "many_chunks",
]

MODEL = "fake-model"
# The client model name that `beside_a_good_one` routes to the working backend.
GOOD_MODEL = "good-model"


@dataclass(frozen=True)
class RawRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None


# Writes the answer to one chat request; returns True to keep the connection open. A
# ConnectionError out of it counts the answer as abandoned by the client.
ChatReply = Callable[[RawRequest, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


def chunk_frame(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
    chunk = {
        "id": "chatcmpl-raw",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _completion(text: str) -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-raw",
            "object": "chat.completion",
            "created": 0,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        }
    )


def _sse_frames(text: str, pieces: int = 3) -> list[bytes]:
    size = max(1, -(-len(text) // pieces))
    frames = [chunk_frame({"role": "assistant", "content": ""})]
    frames += [chunk_frame({"content": text[i : i + size]}) for i in range(0, len(text), size)]
    frames.append(chunk_frame({}, "stop"))
    frames.append(b"data: [DONE]\n\n")
    return frames


def _wants_stream(request: RawRequest) -> bool:
    return isinstance(request.body, dict) and request.body.get("stream") is True


def answer(text: str, *, pieces: int = 3, delay: float = 0.0) -> ChatReply:
    """A well-behaved HTTP/1.1 backend on keep-alive connections: the text as JSON, or as a
    chunked SSE stream of `pieces` content chunks `delay` seconds apart. Cheaper than the
    uvicorn fakes, and it keeps no record of the requests: for load tests."""

    async def reply(
        request: RawRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        if not _wants_stream(request):
            body = _completion(text)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()
            return True
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for n, frame in enumerate(_sse_frames(text, pieces)):
            if delay and n:
                await asyncio.sleep(delay)
            writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    return reply


def drop_reused(text: str, *, fresh_too: bool = False) -> ChatReply:
    """Answers on keep-alive connections, except once: the first request that arrives on a
    connection already used is met with a close and no byte, what a client sees when it reuses a
    connection just as the backend closes it for being idle (llama-server, LM Studio and vLLM
    close idle ones after 5 s). `fresh_too` drops every request: a backend that never answers."""
    answered: set[int] = set()
    dropped: list[int] = []

    async def reply(
        request: RawRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        if fresh_too or (id(writer) in answered and not dropped):
            dropped.append(id(writer))
            return False
        answered.add(id(writer))
        return await answer(text)(request, reader, writer)

    return reply


def http10(text: str) -> ChatReply:
    """An HTTP/1.0 server: no chunked encoding, no content-length; the body ends at the close."""

    async def reply(
        request: RawRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        if _wants_stream(request):
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
            for frame in _sse_frames(text):
                writer.write(frame)
                await writer.drain()
        else:
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n")
            writer.write(_completion(text))
        await writer.drain()
        return False

    return reply


def close_after_each(text: str) -> ChatReply:
    """HTTP/1.1 that says nothing about the connection, then closes it after every answer."""

    async def reply(
        request: RawRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        if _wants_stream(request):
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            for frame in _sse_frames(text):
                writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        else:
            body = _completion(text)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
        await writer.drain()
        return False

    return reply


def huge_json(size: int, piece: int = 1 << 20) -> ChatReply:
    """A non-streamed answer of `size` bytes with a correct content-length, written piece by
    piece (never held whole): one assistant message whose content is `size` bytes of text."""

    async def reply(
        request: RawRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        head = b'{"id":"chatcmpl-raw","object":"chat.completion","model":"fake-model",'
        head += b'"choices":[{"index":0,"message":{"role":"assistant","content":"'
        tail = b'"},"finish_reason":"stop"}]}'
        filler = size - len(head) - len(tail)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % size
        )
        writer.write(head)
        block = b"x" * piece
        while filler > 0:
            writer.write(block[: min(piece, filler)])
            filler -= piece
            await writer.drain()
        writer.write(tail)
        await writer.drain()
        return True

    return reply


def many_chunks(count: int, batch: int = 2000) -> ChatReply:
    """A stream of `count` one-character content chunks, written `batch` frames at a time."""

    async def reply(
        request: RawRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        writer.write(chunk_frame({"role": "assistant", "content": ""}))
        frame = chunk_frame({"content": "x"})
        left = count
        while left > 0:
            writer.write(frame * min(batch, left))
            left -= batch
            await writer.drain()
        writer.write(chunk_frame({}, "stop") + b"data: [DONE]\n\n")
        await writer.drain()
        return False

    return reply


class HalfAnswer:
    """A non-streamed answer stopped in its middle: the headers and half the body, then nothing
    until the client hangs up (an abandoned answer). `halfway` is set once the half is out."""

    def __init__(self, text: str = "never finished") -> None:
        self.text = text
        self.halfway = threading.Event()

    async def __call__(
        self, request: RawRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        body = _completion(self.text)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % len(body)
        )
        writer.write(body[: len(body) // 2])
        await writer.drain()
        self.halfway.set()
        if not await reader.read(1):
            raise ConnectionResetError("the client closed the connection")
        return False


@dataclass
class _Tally:
    lock: threading.Condition = field(default_factory=threading.Condition)
    connections: int = 0
    open: int = 0
    chat_requests: int = 0
    # Chat answers the client stopped reading before their end.
    abandoned: int = 0


class RawBackend:
    """An OpenAI-compatible backend at the socket level: `GET /v1/models` lists one model,
    other reads get 404, and every chat request is answered by `reply`."""

    def __init__(self, reply: ChatReply) -> None:
        self.reply = reply
        self._tally = _Tally()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._stopped: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> RawBackend:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._socket = sock
        ready = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._serve(sock, ready)), name="fake-raw", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the raw fake backend did not start")
        return self

    def stop(self) -> None:
        loop, stopped, thread = self._loop, self._stopped, self._thread
        if loop is not None and stopped is not None:
            try:
                loop.call_soon_threadsafe(stopped.set)
            except RuntimeError:  # the loop has already closed
                pass
        if thread is not None:
            thread.join(10)
        if self._socket is not None:
            self._socket.close()
        self._loop = self._thread = self._socket = self._stopped = None

    def __enter__(self) -> RawBackend:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        assert self._socket is not None, "the raw fake backend is not running"
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    @property
    def url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def connections(self) -> int:
        with self._tally.lock:
            return self._tally.connections

    @property
    def chat_requests(self) -> int:
        with self._tally.lock:
            return self._tally.chat_requests

    @property
    def abandoned(self) -> int:
        with self._tally.lock:
            return self._tally.abandoned

    def wait_until_idle(self, timeout: float = 5.0) -> bool:
        """Block until every connection made to it has been closed; False on timeout."""
        with self._tally.lock:
            return self._tally.lock.wait_for(lambda: self._tally.open == 0, timeout)

    def wait_for_abandoned(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Block until `count` answers in total were abandoned by the client; False on timeout."""
        with self._tally.lock:
            return self._tally.lock.wait_for(lambda: self._tally.abandoned >= count, timeout)

    async def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        server = await asyncio.start_server(self._spawn, sock=sock)
        ready.set()
        async with server:
            await self._stopped.wait()
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _spawn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._connection(reader, writer)
        except asyncio.CancelledError:
            pass  # stopping: asyncio would log a connection task that ends cancelled
        finally:
            self._tasks.discard(task)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._tally.lock:
            self._tally.connections += 1
            self._tally.open += 1
        try:
            keep = True
            while keep:
                request = await _read_request(reader)
                if request is None:
                    break
                if request.method == "POST" and request.path.endswith("/chat/completions"):
                    with self._tally.lock:
                        self._tally.chat_requests += 1
                    try:
                        keep = await self.reply(request, reader, writer)
                    except ConnectionError:
                        with self._tally.lock:
                            self._tally.abandoned += 1
                            self._tally.lock.notify_all()
                        break
                else:
                    keep = await _answer_read(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()  # the socket itself is closed only then
            except ConnectionError:
                pass
            with self._tally.lock:
                self._tally.open -= 1
                self._tally.lock.notify_all()


async def _read_request(reader: asyncio.StreamReader) -> RawRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    raw = await reader.readexactly(int(headers.get("content-length", "0")))
    body = orjson.loads(raw) if raw else None
    return RawRequest(method, path.split("?", 1)[0], headers, body)


async def _answer_read(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
    if request.method == "GET" and request.path == "/v1/models":
        status = b"200 OK"
        body = orjson.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]})
    else:
        status = b"404 Not Found"
        body = orjson.dumps({"error": f"no {request.method} {request.path} here"})
    writer.write(
        b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (status, len(body), body)
    )
    await writer.drain()
    return True


class SilentPort:
    """A port whose kernel completes the TCP handshake (a listen backlog) but whose program
    never accepts, reads or answers: a hung server."""

    def __init__(self) -> None:
        self._socket: socket.socket | None = None

    def __enter__(self) -> SilentPort:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self._socket = sock
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    @property
    def url(self) -> str:
        assert self._socket is not None
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}/v1"


def beside_a_good_one(bad_url: str, good_url: str, **overrides: Any) -> dict[str, Any]:
    """Overrides for the `gateway_server` fixture: the Claude model names go to the backend at
    `bad_url`, GOOD_MODEL to the working one at `good_url` (to show the gateway still serves)."""
    from gateway.config import BackendConfig

    return {
        "backends": [BackendConfig(id="bad", url=bad_url), BackendConfig(id="good", url=good_url)],
        "big": f"bad:{MODEL}",
        "small": f"bad:{MODEL}",
        "aliases": {GOOD_MODEL: f"good:{MODEL}"},
        **overrides,
    }
