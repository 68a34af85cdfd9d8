"""Raw replies (for tests.fakes.wire.RawBackend) that attack the gateway's limits: a stream line
that never ends, a non-streamed answer trickled a byte at a time, a first chunk the translator
must hold back followed by silence, a stream cut or broken in its middle; and `by_marker`, one
backend that answers each request with the fault its text names (`[fault=NAME]`)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

import orjson

from tests.fakes.wire import ChatReply, RawRequest, chunk_frame

__all__ = [
    "by_marker",
    "cut_stream",
    "fault_marker",
    "headers_then_silence",
    "held_then_silence",
    "huge_line",
    "malformed_stream",
    "trickle",
]

_SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"


def huge_line(size: int, *, piece: int = 64 * 1024, then_text: str | None = None) -> ChatReply:
    """A streamed answer whose second line is one `data:` line of `size` bytes (a content delta
    that never seems to end), written `piece` bytes at a time, never held whole. With
    `then_text`, the line ends and a normal end of stream follows."""

    async def reply(
        request: RawRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(_SSE_HEAD + chunk_frame({"role": "assistant", "content": ""}))
        head = b'data: {"id":"chatcmpl-raw","object":"chat.completion.chunk","choices":'
        head += b'[{"index":0,"delta":{"content":"'
        writer.write(head)
        block = b"x" * piece
        left = size - len(head)
        while left > 0:
            writer.write(block[: min(piece, left)])
            left -= piece
            await writer.drain()
        if then_text is not None:
            writer.write(b'"},"finish_reason":null}]}\n\n')
            writer.write(chunk_frame({"content": then_text}) + chunk_frame({}, "stop"))
            writer.write(b"data: [DONE]\n\n")
            await writer.drain()
        return False

    return reply


def trickle(every: float, *, size: int = 100_000) -> ChatReply:
    """A non-streamed answer announced as `size` bytes, then sent one byte every `every`
    seconds: each byte keeps an idle timeout from firing."""

    async def reply(
        request: RawRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % size
        )
        await writer.drain()
        for _ in range(size):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(every)
        return False

    return reply


def held_then_silence(first: dict[str, Any], seconds: float, text: str = " done") -> ChatReply:
    """The role chunk, then (in a read of its own) a content delta the translator holds back
    (`first`: a text tool call's opening, a call without its name), then nothing for `seconds`,
    then `text` and a normal end."""

    async def reply(
        request: RawRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(_SSE_HEAD + chunk_frame({"role": "assistant", "content": ""}))
        await writer.drain()
        await asyncio.sleep(0.2)  # two reads: the role chunk alone is not content
        writer.write(chunk_frame(first))
        await writer.drain()
        await asyncio.sleep(seconds)
        writer.write(chunk_frame({"content": text}) + chunk_frame({}, "stop"))
        writer.write(b"data: [DONE]\n\n")
        await writer.drain()
        return False

    return reply


def cut_stream(after: int = 5) -> ChatReply:
    """`after` content chunks, then the connection closed: no finish_reason, no [DONE]."""

    async def reply(
        request: RawRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(_SSE_HEAD + chunk_frame({"role": "assistant", "content": ""}))
        for n in range(after):
            writer.write(chunk_frame({"content": f"part {n} "}))
        await writer.drain()
        return False

    return reply


def malformed_stream() -> ChatReply:
    """Two good chunks, then a `data:` line that is not JSON."""

    async def reply(
        request: RawRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(_SSE_HEAD + chunk_frame({"role": "assistant", "content": ""}))
        writer.write(chunk_frame({"content": "fine so far"}) + b"data: {not json\n\n")
        await writer.drain()
        await asyncio.sleep(0.5)  # the gateway hangs up first
        return False

    return reply


def headers_then_silence(seconds: float) -> ChatReply:
    """The stream's headers, then nothing for `seconds`, then the connection closed."""

    async def reply(
        request: RawRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(_SSE_HEAD)
        await writer.drain()
        await asyncio.sleep(seconds)
        return False

    return reply


_MARKER = re.compile(rb"\[fault=([a-z_]+)\]")


def fault_marker(name: str) -> str:
    """The text that makes `by_marker` answer with the fault `name`."""
    return f"[fault={name}]"


def by_marker(faults: Mapping[str, ChatReply], normal: ChatReply) -> ChatReply:
    """Each request answered by the fault its text names (`fault_marker`), else `normal`."""

    async def reply(
        request: RawRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        found = _MARKER.search(orjson.dumps(request.body))
        chosen = faults[found.group(1).decode()] if found else normal
        return await chosen(request, reader, writer)

    return reply
