"""Byte-pair encoding token counts in pure Python: o200k_base, exact, in ~29 MB.

The vocabulary is OpenAI's published `o200k_base.tiktoken` (MIT, from tiktoken), shipped gzipped
in `gateway/data/`; its SHA-256 is checked by the tests against the one tiktoken pins. A count is
the number of parts tiktoken's `encode_ordinary` would return:

1. Pre-tokenize with o200k's pattern. Python's `re` has no `\\p{…}` classes, so the letter, mark
   and number classes are built from `unicodedata` for the Basic Multilingual Plane. A character
   above U+FFFF (emoji, rare scripts) would push each class onto `re`'s slow path, so such a text
   is matched through a proxy: each astral character is replaced by a BMP character of the same
   general category, and the pieces are cut from the original at the proxy's match offsets.
2. Merge each piece's bytes, always the pair of lowest rank, leftmost first (tiktoken's rule).
   Most pieces are one token and cost one dict lookup; distinct pieces are merged once per text.

Nothing here does I/O except `load_o200k`, which reads the vocabulary once.
"""

from __future__ import annotations

import base64
import gzip
import heapq
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from importlib import resources

__all__ = ["Encoding", "load_o200k"]

VOCABULARY = "o200k_base.tiktoken.gz"
VOCABULARY_SIZE = 199_998
# Below this many bytes a piece is merged by scanning its pair ranks (fast in C: min and index);
# above it a heap keeps the work at n log n for the long runs only generated text has.
_SCAN_LIMIT = 256
# A piece longer than this (a run of letters with no space, digit or punctuation in 8 KB: junk,
# never prose or code) is counted from its first 8 KB, scaled to its length, so that 32 MB of it
# costs seconds, not minutes. Every shorter piece is counted exactly.
_EXACT_LIMIT = 8192
_NO_MERGE = 1 << 30

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
# What a character outside the BMP is matched as: one BMP character with the same membership in
# every class of the pattern (letters upper/lower/other, marks, numbers, anything else).
_PROXY_BY_CATEGORY = {"Lu": "A", "Lt": "A", "Ll": "a", "Lm": "\u4e00", "Lo": "\u4e00"}
_PROXY_MARK, _PROXY_NUMBER, _PROXY_OTHER = "\u0300", "0", "!"
# Unicode's White_Space property, which is what `\s` means in tiktoken's (Rust) pattern; Python's
# `\s` also matches the separators U+001C–U+001F.
_WHITE_SPACE = (
    "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)


def _class(categories: Iterable[str]) -> str:
    """A `re` character-class body for the BMP code points in the given general categories."""
    wanted = set(categories)
    spans: list[str] = []
    start = -1
    for code in range(0x10001):
        inside = code < 0x10000 and unicodedata.category(chr(code)) in wanted
        if inside and start < 0:
            start = code
        elif not inside and start >= 0:
            low, high = re.escape(chr(start)), re.escape(chr(code - 1))
            spans.append(low if start == code - 1 else f"{low}-{high}")
            start = -1
    return "".join(spans)


def _o200k_pattern() -> re.Pattern[str]:
    """tiktoken's o200k_base pattern, with each `\\p{…}` spelled out for the BMP."""
    marks = ("Mn", "Mc", "Me")
    letters = _class(("Lu", "Ll", "Lt", "Lm", "Lo"))
    numbers = _class(("Nd", "Nl", "No"))
    upper = _class(("Lu", "Lt", "Lm", "Lo", *marks))
    lower = _class(("Ll", "Lm", "Lo", *marks))
    space = _WHITE_SPACE
    contraction = "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    return re.compile(
        "|".join(
            (
                f"[^\\r\\n{letters}{numbers}]?[{upper}]*[{lower}]+{contraction}",
                f"[^\\r\\n{letters}{numbers}]?[{upper}]+[{lower}]*{contraction}",
                f"[{numbers}]{{1,3}}",
                f" ?[^{space}{letters}{numbers}]+[\\r\\n/]*",
                f"[{space}]*[\\r\\n]+",
                f"[{space}]+(?![^{space}])",
                f"[{space}]+",
            )
        )
    )


def _proxy(match: re.Match[str]) -> str:
    category = unicodedata.category(match.group())
    proxy = _PROXY_BY_CATEGORY.get(category)
    if proxy is not None:
        return proxy
    if category[0] == "M":
        return _PROXY_MARK
    if category[0] == "N":
        return _PROXY_NUMBER
    return _PROXY_OTHER


class Encoding:
    """Counts tokens of one BPE vocabulary; safe to share between threads (it holds no state
    that a count changes)."""

    def __init__(self, ranks: dict[bytes, int], pattern: re.Pattern[str]) -> None:
        self._ranks = ranks
        self._pattern = pattern

    def pieces(self, text: str) -> list[str]:
        """The pre-tokenizer's split of `text`, in order."""
        if _ASTRAL.search(text) is None:
            return self._pattern.findall(text)
        proxied = _ASTRAL.sub(_proxy, text)
        return [text[m.start() : m.end()] for m in self._pattern.finditer(proxied)]

    def count(self, text: str) -> int:
        """The number of tokens tiktoken's `encode_ordinary(text)` returns."""
        ranks = self._ranks
        total = 0
        for piece, times in Counter(self.pieces(text)).items():
            data = piece.encode("utf-8")
            total += times if data in ranks else times * self.merge_count(data)
        return total

    def merge_count(self, data: bytes) -> int:
        """How many tokens the bytes of one piece merge into."""
        if len(data) <= _SCAN_LIMIT:
            return _merge_by_scan(data, self._ranks)
        if len(data) <= _EXACT_LIMIT:
            return _merge_by_heap(data, self._ranks)
        sample = _merge_by_heap(data[:_EXACT_LIMIT], self._ranks)
        return max(1, round(sample * len(data) / _EXACT_LIMIT))


def _merge_by_scan(data: bytes, ranks: dict[bytes, int]) -> int:
    get = ranks.get
    parts = [data[i : i + 1] for i in range(len(data))]
    pairs = [get(parts[i] + parts[i + 1], _NO_MERGE) for i in range(len(parts) - 1)]
    while pairs:
        best = min(pairs)
        if best == _NO_MERGE:
            break
        i = pairs.index(best)  # the leftmost of the lowest rank
        parts[i] += parts.pop(i + 1)
        del pairs[i]
        if i > 0:
            pairs[i - 1] = get(parts[i - 1] + parts[i], _NO_MERGE)
        if i < len(pairs):
            pairs[i] = get(parts[i] + parts[i + 1], _NO_MERGE)
    return len(parts)


def _merge_by_heap(data: bytes, ranks: dict[bytes, int]) -> int:
    """The same merges in n log n: parts are spans of `data` chained by their start offsets, and
    the heap holds (rank, start) of every pair, stale entries skipped when popped."""
    get = ranks.get
    size = len(data)
    following = list(range(1, size + 1))  # start of the next part; `size` past the last one
    previous = list(range(-1, size - 1))
    alive = [True] * size
    heap = [(rank, i) for i in range(size - 1) if (rank := get(data[i : i + 2])) is not None]
    heapq.heapify(heap)
    parts = size
    while heap:
        rank, start = heapq.heappop(heap)
        if not alive[start]:
            continue
        middle = following[start]
        if middle >= size:
            continue
        end = following[middle]
        if get(data[start:end]) != rank:
            continue  # a neighbour merged since this pair was pushed
        alive[middle] = False
        following[start] = end
        if end < size:
            previous[end] = start
        parts -= 1
        before = previous[start]
        if before >= 0 and (left := get(data[before:end])) is not None:
            heapq.heappush(heap, (left, before))
        if end < size and (right := get(data[start : following[end]])) is not None:
            heapq.heappush(heap, (right, start))
    return parts


def load_o200k() -> Encoding:
    """Read the vocabulary shipped with the gateway (~0.25 s, ~25 MB)."""
    source = resources.files("gateway.data").joinpath(VOCABULARY)
    with source.open("rb") as raw, gzip.open(raw) as lines:
        # A .tiktoken file is "base64-token rank" per line, ranks counting up from 0.
        ranks = {
            base64.b64decode(line[: line.index(b" ")]): rank for rank, line in enumerate(lines)
        }
    if len(ranks) != VOCABULARY_SIZE:
        raise RuntimeError(f"{VOCABULARY} holds {len(ranks)} tokens, not {VOCABULARY_SIZE}")
    return Encoding(ranks, _o200k_pattern())
