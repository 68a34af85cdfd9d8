"""Stream lines: linear in the bytes however a long line is cut, and bounded in length."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.translate.lines import LineSplitter, LineTooLong
from gateway.translate.ollama import NDJSONDecoder
from gateway.translate.sse import AnthropicSSEDecoder, SSEDecoder

MiB = 1024 * 1024


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# Each decoder, unbounded, given one 4 MiB line in 256-byte reads (16,384 of them), then its
# end: the number of lines or events that come out.
DECODERS: dict[str, Callable[[list[bytes]], int]] = {
    "sse": lambda reads: sum(len(d.feed(r)) for d in [SSEDecoder(None)] for r in reads),
    "anthropic": lambda reads: sum(
        len(d.feed(r)) for d in [AnthropicSSEDecoder(None)] for r in reads
    ),
    "ndjson": lambda reads: sum(len(d.feed(r)) for d in [NDJSONDecoder(None)] for r in reads),
}


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_a_long_line_cut_in_small_reads_is_decoded_in_linear_time(name: str) -> None:
    text = "x" * (4 * MiB)
    if name == "ndjson":
        line = orjson.dumps({"message": {"content": text}}) + b"\n"
    else:
        line = b"data: " + orjson.dumps({"type": "ping", "text": text}) + b"\n\n"
    reads = pieces(line, 256)
    started = time.process_time()
    assert DECODERS[name](reads) == 1
    # Linear: ~10-50 ms. Re-joining the held line on every read copies 16,384 times ~2 MiB
    # on average (~34 GB): tens of seconds. The bound is far from both.
    assert time.process_time() - started < 3.0


@pytest.mark.parametrize("sse", [True, False])
def test_a_line_past_the_limit_fails_before_its_end(sse: bool) -> None:
    lines = LineSplitter(sse=sse, limit=1000)
    assert lines.split(b"a" * 600) == []
    with pytest.raises(LineTooLong) as raised:
        lines.split(b"a" * 600)  # still no line end: 1,200 bytes held would be too many
    assert raised.value.limit == 1000
    assert "longer than 1,000 bytes" in str(raised.value)


@pytest.mark.parametrize("sse", [True, False])
def test_a_long_line_arriving_whole_fails_too(sse: bool) -> None:
    lines = LineSplitter(sse=sse, limit=1000)
    with pytest.raises(LineTooLong):
        lines.split(b"ok\n" + b"a" * 1001 + b"\nrest")


def test_lines_up_to_the_limit_pass() -> None:
    lines = LineSplitter(sse=True, limit=1000)
    assert lines.split(b"a" * 500) == []
    assert lines.split(b"a" * 500 + b"\n" + b"b" * 1000 + b"\r\nc") == [b"a" * 1000, b"b" * 1000]
    assert lines.flush() == b"c"


def test_an_event_of_many_lines_is_bounded_as_a_whole() -> None:
    # 20 data lines of 100 bytes, each well under the limit: their sum is one event's data.
    decoder = SSEDecoder(limit=1000)
    with pytest.raises(LineTooLong) as raised:
        decoder.feed(b"".join(b"data: " + b"a" * 100 + b"\n" for _ in range(20)))
    assert raised.value.what == "event"
    native = AnthropicSSEDecoder(limit=1000)
    with pytest.raises(LineTooLong):
        native.feed(b"".join(b"data: " + b"a" * 100 + b"\n" for _ in range(20)))


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30))
def test_any_cut_gives_the_same_lines(cuts: list[int]) -> None:
    data = b"\xef\xbb\xbfone\r\ntwo\rthree\n\nfour\r\n" * 3 + b"tail"
    whole = LineSplitter(sse=True)
    expected = whole.split(data)
    lines = LineSplitter(sse=True)
    got: list[bytes] = []
    position = 0
    for cut in cuts:
        got += lines.split(data[position : position + cut])
        position += cut
    got += lines.split(data[position:])
    assert got == expected
    assert lines.flush() == whole.flush() == b"tail"
    ndjson = LineSplitter(sse=False)
    assert ndjson.split(b"a\r\nb\n") == [b"a\r", b"b"]  # NDJSON ends lines in LF alone
