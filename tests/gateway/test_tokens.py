from __future__ import annotations

import base64
import json
import math
import struct
import subprocess
import sys
import threading
import zlib
from typing import Any

import orjson
import pytest

from gateway import bpe, tokens
from gateway.schemas.anthropic import (
    parse_count_tokens_request,
    parse_messages_request,
)
from tests.paths import REPO, fixture_names, load_fixture
from tests.reference_tokens import reference_count as n


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- image headers, written by hand -------------------------------------------------------------


def png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    crc = struct.pack(">I", zlib.crc32(chunk))
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + crc + b"\0" * 40


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\xf7\x00\x00" + b"\0" * 30


def webp_vp8(width: int, height: int) -> bytes:
    frame = b"\x9d\x01\x2a" + struct.pack("<HH", width, height)
    payload = b"\x50\x02\x00" + frame + b"\0" * 20
    body = b"WEBP" + b"VP8 " + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_vp8l(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    payload = b"\x2f" + struct.pack("<I", bits) + b"\0" * 20
    body = b"WEBP" + b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_vp8x(width: int, height: int) -> bytes:
    canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    payload = b"\x10\0\0\0" + canvas
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(payload)) + payload + b"\0" * 20
    return b"RIFF" + struct.pack("<I", len(body)) + body


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg(width: int, height: int, *, sof: int = 0xC0, exif_bytes: int = 0) -> bytes:
    parts = [b"\xff\xd8", segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")]
    if exif_bytes:
        parts.append(segment(0xE1, b"Exif\0\0" + b"\xab" * exif_bytes))
    parts.append(segment(0xDB, b"\0" + bytes(range(64))))
    parts.append(b"\xff")  # a fill byte before the next marker is legal
    parts.append(segment(0xC4, b"\0" * 20))  # DHT sits in the SOF range but is not a frame
    frame = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    parts.append(segment(sof, frame))
    parts.append(segment(0xDA, b"\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00") + b"\x12\x34")
    parts.append(b"\xff\xd9")
    return b"".join(parts)


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png(640, 480), (640, 480)),
        (png(1, 1), (1, 1)),
        (gif(320, 200), (320, 200)),
        (webp_vp8(1024, 768), (1024, 768)),
        (webp_vp8l(300, 9000), (300, 9000)),
        (webp_vp8x(4000, 3000), (4000, 3000)),
        (jpeg(800, 600), (800, 600)),
        (jpeg(1920, 1080, sof=0xC2), (1920, 1080)),
        (jpeg(64, 48, exif_bytes=60_000), (64, 48)),
    ],
    ids=[
        "png",
        "png-1px",
        "gif",
        "webp-vp8",
        "webp-vp8l",
        "webp-vp8x",
        "jpeg",
        "jpeg-prog",
        "exif",
    ],
)
def test_image_size_reads_the_header(data: bytes, size: tuple[int, int]) -> None:
    assert tokens.image_size(b64(data)) == size


def test_image_size_reads_only_the_header_not_the_whole_image() -> None:
    # Past the frame header the string is not base64 at all: a full decode would fail.
    data = b64(jpeg(1000, 500, exif_bytes=3000)) + "!!!!not base64!!!!"
    assert tokens.image_size(data) == (1000, 500)
    assert tokens.image_size(b64(png(31, 17)) + "%%%%") == (31, 17)


def test_image_size_tolerates_line_wrapped_base64() -> None:
    text = b64(png(123, 45))
    wrapped = "\n".join(text[i : i + 16] for i in range(0, len(text), 16))
    assert tokens.image_size(wrapped) == (123, 45)


@pytest.mark.parametrize(
    "data",
    [
        "",
        "not base64 at all",
        b64(b"hello world, this is not an image at all"),
        b64(png(640, 480)[:20]),  # cut inside IHDR
        b64(png(0, 480)),
        b64(jpeg(800, 600)[:40]),  # cut before the frame
        b64(b"\xff\xd8" + b"\xff\xda\x00\x04\x00\x00"),  # scan before any frame
        b64(b"RIFF\x10\x00\x00\x00WEBPVP8Z" + b"\0" * 20),
    ],
    ids=["empty", "garbage", "text", "cut-png", "zero-width", "cut-jpeg", "sos-first", "webp-?"],
)
def test_image_size_unreadable_is_none(data: str) -> None:
    assert tokens.image_size(data) is None


def test_image_size_bounds_a_jpeg_made_of_endless_fill() -> None:
    assert tokens.image_size(b64(b"\xff\xd8" + b"\xff" * 3000)) is None


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (200, 200, math.ceil(200 * 200 / 750)),  # 53.3 → 54
        (750, 1, 1),
        (1, 1, 1),
        (1000, 1000, 1334),
        # Over 1568 px on the long edge: scaled to 1568×392 first.
        (4000, 1000, math.ceil(1568 * 392 / 750)),
        # Scaled to 1568×1176 = 2459 tokens, then capped by the ~1.15 MP limit.
        (4000, 3000, 1600),
    ],
)
def test_image_tokens_follow_anthropics_rule(width: int, height: int, expected: int) -> None:
    source = {"type": "base64", "media_type": "image/png", "data": b64(png(width, height))}
    assert tokens.image_tokens(source) == expected


def test_image_tokens_ignore_a_wrong_media_type() -> None:
    source = {"type": "base64", "media_type": "image/jpeg", "data": b64(gif(300, 300))}
    assert tokens.image_tokens(source) == 120


def test_url_and_unreadable_images_count_as_the_cap() -> None:
    assert tokens.image_tokens({"type": "url", "url": "https://example.com/a.png"}) == 1600
    bad = {"type": "base64", "media_type": "image/png", "data": "AAAA"}
    assert tokens.image_tokens(bad) == 1600


# --- text and requests --------------------------------------------------------------------------


def test_count_text_matches_the_encoding() -> None:
    text = "def add(a, b):\n    return a + b  # sums — ünïcödé 😀"
    assert tokens.count_text(text) == n(text) > 0
    assert tokens.count_text("") == 0


def test_count_text_treats_special_token_strings_as_text() -> None:
    text = "before <|endoftext|> after"
    assert tokens.count_text(text) == n(text)


def test_count_text_long_text_is_exact_and_past_the_tokenizer_limits() -> None:
    line = "for item in items: total += item.price * 1.2  # übertrag\n"
    text = line * 2000  # ~116k characters: split into pieces internally
    assert len(text) > 100_000
    assert tokens.count_text(text) == n(text)
    # A million characters: pre-tokenized in pieces, counted exactly.
    huge = "word " * 220_000
    # "word", then 219,999 × " word", then the trailing " ".
    assert tokens.count_text(huge) == 220_001


def test_count_tokens_hand_made_request_is_exact() -> None:
    image = {"type": "base64", "media_type": "image/png", "data": b64(png(300, 150))}
    tool_input = {"command": "ls -la", "description": "List files", "n": 3}
    tool = {
        "name": "Bash",
        "description": "Run a shell command.",
        "input_schema": {
            "type": "object",
            "properties": {"command": {"type": "string"}},
            "required": ["command"],
        },
    }
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "system": [
            {"type": "text", "text": "You are terse."},
            {"type": "text", "text": "Answer in French.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "user", "content": "List the files, please."},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "The user wants ls.", "signature": "sig"},
                    {"type": "text", "text": "Running ls."},
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": tool_input},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.py\nb.py"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": [
                            {"type": "text", "text": "screenshot:"},
                            {"type": "image", "source": image},
                        ],
                    },
                    {"type": "image", "source": image},
                    {"type": "text", "text": "Thanks!"},
                ],
            },
        ],
        "tools": [tool],
    }
    req = parse_messages_request(orjson.dumps(body))
    image_cost = math.ceil(300 * 150 / 750)
    expected = (
        n("You are terse.")
        + n("Answer in French.")
        + 3 * tokens.MESSAGE_OVERHEAD_TOKENS
        + n("List the files, please.")
        + n("The user wants ls.")
        + n("Running ls.")
        + n("Bash")
        + n(compact(tool_input))
        + n("a.py\nb.py")
        + n("screenshot:")
        + 2 * image_cost
        + n("Thanks!")
        + n(compact(tool))
    )
    assert tokens.count_tokens(req) == expected


def test_count_tokens_system_string_and_empty_tools() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "foo"}], "tools": []}
    req = parse_count_tokens_request(orjson.dumps({**body, "system": "Be brief."}))
    assert tokens.count_tokens(req) == n("Be brief.") + tokens.MESSAGE_OVERHEAD_TOKENS + n("foo")


def test_count_tokens_unknown_blocks_and_server_tools() -> None:
    pdf = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x" * 500}
    document = {"type": "document", "source": pdf, "cache_control": {"type": "ephemeral"}}
    redacted = {"type": "redacted_thinking", "data": "opaque-blob"}
    server_tool = {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": [document, redacted]}],
        "tools": [server_tool],
    }
    req = parse_count_tokens_request(orjson.dumps(body))
    document_json = compact(
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf"}}
    )
    expected = (
        tokens.MESSAGE_OVERHEAD_TOKENS
        + n(document_json)
        + tokens.IMAGE_FALLBACK_TOKENS
        + n(compact(redacted))
        + n(compact({"name": "web_search", "type": "web_search_20250305"}))
    )
    assert tokens.count_tokens(req) == expected


def _parse_fixture(body: dict[str, Any]) -> Any:
    raw = orjson.dumps(body)
    return parse_messages_request(raw) if "max_tokens" in body else parse_count_tokens_request(raw)


def test_fixture_counts_are_in_a_sane_band_of_chars_over_4() -> None:
    for name in fixture_names():
        body = load_fixture(name)["body"]
        count = tokens.count_tokens(_parse_fixture(body))
        # chars/4 over what is counted (system, message contents, tools), without the JSON
        # scaffolding around it and without the fixed per-message overhead.
        parts = [body.get("system"), *(m["content"] for m in body["messages"]), body.get("tools")]
        chars = sum(
            len(part) if isinstance(part, str) else len(orjson.dumps(part))
            for part in parts
            if part
        )
        quarter = chars / 4
        content = count - tokens.MESSAGE_OVERHEAD_TOKENS * len(body["messages"])
        print(f"{name}: {count} tokens, chars/4 = {quarter:.0f}, ratio {content / quarter:.2f}")
        assert count > 0
        assert 0.5 * quarter <= content <= 2 * quarter, name


# --- loading the tables -------------------------------------------------------------------------


def test_the_tables_are_not_loaded_at_import() -> None:
    code = (
        "import sys, gateway.tokens as t\n"
        "print(t.is_loaded())\n"
        "print(t.count_text('Hello, world!'), t.is_loaded(), 'bpe_openai' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    # Loaded on the first count, by the gateway's own counter (the reference is for tests only).
    assert out.stdout.split() == ["False", "4", "True", "False"]


def test_the_tables_load_once_under_concurrent_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    entered = threading.Event()
    release = threading.Event()

    class FakeEncoding:
        def count(self, text: str) -> int:
            return len(text)

    def slow_load() -> FakeEncoding:
        loads.append("o200k_base")
        entered.set()
        release.wait(5)
        return FakeEncoding()

    monkeypatch.setattr(tokens, "_encoder", None)
    monkeypatch.setattr(bpe, "load_o200k", slow_load)
    results: list[int] = []

    def count() -> None:
        results.append(tokens.count_text("abc"))

    first = threading.Thread(target=count)
    first.start()
    assert entered.wait(5)
    others = [threading.Thread(target=count) for _ in range(5)]
    for thread in others:
        thread.start()
    # The others must wait for the load in progress instead of starting their own.
    others[-1].join(0.2)
    assert all(thread.is_alive() for thread in others)
    assert loads == ["o200k_base"]
    release.set()
    for thread in (first, *others):
        thread.join(5)
    assert loads == ["o200k_base"]
    assert results == [3] * 6
