"""Token counts for `POST /v1/messages/count_tokens`: a real BPE count (o200k_base), not chars/4.

The local model's own tokenizer is not at hand, so o200k_base stands in for it: on code and
English prose it lands within a few percent of the Llama/Qwen/Gemma vocabularies, which is what
Claude Code's auto-compact needs. Images follow Anthropic's published rule instead.
"""

from __future__ import annotations

import base64
import binascii
import math
import threading
from collections.abc import Mapping
from typing import Any

import orjson

from gateway import bpe
from gateway.errors import InvalidRequest
from gateway.schemas.anthropic import CountTokensRequest, MessagesRequest
from gateway.translate.documents import PdfReader, render_document, render_search_result

__all__ = [
    "IMAGE_FALLBACK_TOKENS",
    "MESSAGE_OVERHEAD_TOKENS",
    "count_text",
    "count_tokens",
    "image_size",
    "image_tokens",
    "is_loaded",
    "warm_up",
]

# Role markers and separators a chat template wraps around every message; 4 is what OpenAI's
# own cookbook counts for its chat format, and local templates are in the same range.
MESSAGE_OVERHEAD_TOKENS = 4
# Anthropic scales an image down until it is within ~1.15 megapixels and 1568 px on the long
# edge, which makes 1600 tokens the most one image can cost; unknown sizes are counted at it.
IMAGE_FALLBACK_TOKENS = 1600
_IMAGE_MAX_EDGE = 1568
_PIXELS_PER_TOKEN = 750
# A text is pre-tokenized in pieces of at most this many characters, so that 20 MB of prose
# never becomes one list of four million words.
_PIECE_CHARS = 40_000

_encoder: bpe.Encoding | None = None
_encoder_lock = threading.Lock()


def _get_encoder() -> bpe.Encoding:
    global _encoder
    encoder = _encoder
    if encoder is None:
        with _encoder_lock:
            if _encoder is None:
                # Reading the vocabulary takes ~0.25 s: on first use, never at import.
                _encoder = bpe.load_o200k()
            encoder = _encoder
    assert encoder is not None
    return encoder


def is_loaded() -> bool:
    """Whether the BPE tables are in memory (loading them takes ~0.25 s and ~27 MB)."""
    return _encoder is not None


def warm_up() -> None:
    """Load the BPE tables now (~0.25 s): call it off the event loop, in a thread at start-up."""
    _get_encoder()


def count_text(text: str) -> int:
    """Tokens in `text`; special-token strings such as `<|endoftext|>` count as plain text."""
    if not text:
        return 0
    encoder = _get_encoder()
    if len(text) <= _PIECE_CHARS:
        return encoder.count(text)
    return sum(encoder.count(piece) for piece in _pieces(text))


def _pieces(text: str) -> list[str]:
    """Split before a space that follows a non-space, where the BPE pre-tokenizer splits anyway."""
    pieces: list[str] = []
    start = 0
    while len(text) - start > _PIECE_CHARS:
        end = start + _PIECE_CHARS
        cut = text.rfind(" ", start + _PIECE_CHARS // 2, end)
        while cut > start and text[cut - 1].isspace():
            cut = text.rfind(" ", start + _PIECE_CHARS // 2, cut)
        if cut <= start:
            cut = end
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def count_tokens(req: CountTokensRequest | MessagesRequest, *, pdf: PdfReader | None = None) -> int:
    """The prompt's token count: system, messages, tools, images, plus a per-message overhead.
    `pdf` reads a base64 PDF (the gateway hands in its cache)."""
    total = 0
    system = req.get("system")
    if isinstance(system, str):
        total += count_text(system)
    elif system:
        total += sum(count_text(block["text"]) for block in system)
    for message in req["messages"]:
        total += MESSAGE_OVERHEAD_TOKENS
        content = message["content"]
        if isinstance(content, str):
            total += count_text(content)
        else:
            total += sum(_count_block(block, pdf) for block in content)
    for tool in req.get("tools") or ():
        total += count_text(_compact_json(_tool_definition(tool)))
    return total


def _count_block(block: Mapping[str, Any], pdf: PdfReader | None = None) -> int:
    kind = block.get("type")
    if kind == "text":
        return count_text(block["text"])
    if kind == "image":
        return image_tokens(block["source"])
    if kind == "tool_use":
        return count_text(block["name"]) + count_text(_compact_json(block["input"]))
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, str):
            return count_text(content)
        return sum(_count_block(part, pdf) for part in content or ())
    if kind == "thinking":
        return count_text(block["thinking"])
    return _count_other(block, pdf)


def _count_other(block: Mapping[str, Any], pdf: PdfReader | None = None) -> int:
    """A block the gateway does not model (redacted_thinking, server tool results…): its JSON
    as text, except that a base64 payload is counted like an image of unknown size. Documents
    and search results count as the text a local model gets (translate.documents)."""
    readable = _readable(block, pdf)
    if readable is not None:
        return readable
    fields = {k: v for k, v in block.items() if k != "cache_control"}
    source = fields.get("source")
    extra = 0
    if isinstance(source, Mapping) and source.get("type") == "base64":
        fields["source"] = {k: v for k, v in source.items() if k != "data"}
        extra = IMAGE_FALLBACK_TOKENS
    return count_text(_compact_json(fields)) + extra


def _readable(block: Mapping[str, Any], pdf: PdfReader | None = None) -> int | None:
    kind = block.get("type")
    try:
        if kind == "search_result":
            text = render_search_result(block, 0)
            return None if text is None else count_text(text)
        if kind == "document":
            rendered = render_document(block, 0, vision=True, pdf=pdf)
            if rendered is None:
                return None
            images = sum(image_tokens(image["source"]) for image in rendered.images)
            return count_text(rendered.text) + images
    except InvalidRequest:
        return None  # a url or file source, a broken PDF: refused when translated, not here
    return None


def _tool_definition(tool: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("name", "description", "input_schema") if "input_schema" in tool else ("name", "type")
    return {key: tool[key] for key in keys if tool.get(key) is not None}


def _compact_json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:  # integers beyond 64 bits, which orjson refuses
        import json

        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def image_tokens(source: Mapping[str, Any]) -> int:
    """Anthropic's rule, ceil(width × height / 750) after its downscaling; 1600 when unknown."""
    if source.get("type") != "base64":
        return IMAGE_FALLBACK_TOKENS
    data = source.get("data")
    size = image_size(data) if isinstance(data, str) else None
    if size is None:
        return IMAGE_FALLBACK_TOKENS
    width, height = size
    longest = max(width, height)
    if longest > _IMAGE_MAX_EDGE:
        scale = _IMAGE_MAX_EDGE / longest
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
    return min(IMAGE_FALLBACK_TOKENS, math.ceil(width * height / _PIXELS_PER_TOKEN))


class _Base64Bytes:
    """Random access to the bytes behind a base64 string, decoding only the quads asked for."""

    def __init__(self, data: str) -> None:
        if any(c in data for c in " \t\r\n"):
            data = "".join(data.split())
        self._data = data
        self.size = len(data) // 4 * 3

    def read(self, offset: int, length: int) -> bytes:
        first = offset // 3 * 4
        last = -(-(offset + length) // 3) * 4
        chunk = base64.b64decode(self._data[first:last], validate=True)
        skip = offset - first // 4 * 3
        return chunk[skip : skip + length]


def image_size(data: str) -> tuple[int, int] | None:
    """(width, height) from the header of a base64 PNG, JPEG, GIF or WebP; None if unreadable."""
    try:
        reader = _Base64Bytes(data)
        head = reader.read(0, 30)
        size: tuple[int, int] | None
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            size = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        elif head[:6] in (b"GIF87a", b"GIF89a"):
            size = int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
        elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            size = _webp_size(head)
        elif head[:2] == b"\xff\xd8":
            size = _jpeg_size(reader)
        else:
            return None
    except (binascii.Error, ValueError):
        return None
    if size is None or size[0] <= 0 or size[1] <= 0:
        return None
    return size


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        width = int.from_bytes(head[26:28], "little") & 0x3FFF
        height = int.from_bytes(head[28:30], "little") & 0x3FFF
        return width, height
    if chunk == b"VP8L" and head[20:21] == b"\x2f":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length field: TEM, RST0–7, SOI.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})


def _jpeg_size(reader: _Base64Bytes) -> tuple[int, int] | None:
    offset = 2
    # A camera JPEG has a handful of segments before the frame; the bound stops a crafted loop.
    for _ in range(256):
        if offset + 4 > reader.size:
            return None
        marker = reader.read(offset, 4)
        if marker[0] != 0xFF:
            return None
        kind = marker[1]
        if kind == 0xFF:  # fill byte before a marker
            offset += 1
            continue
        if kind in _JPEG_STANDALONE:
            offset += 2
            continue
        if kind in (0xD9, 0xDA):  # end of image, or start of scan without a frame before it
            return None
        length = int.from_bytes(marker[2:4], "big")
        if kind in _JPEG_SOF:
            frame = reader.read(offset + 5, 4)
            if len(frame) < 4:
                return None
            return int.from_bytes(frame[2:4], "big"), int.from_bytes(frame[0:2], "big")
        if length < 2:
            return None
        offset += 2 + length
    return None
