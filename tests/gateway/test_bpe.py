"""gateway/bpe.py, the pure-Python o200k_base counter, against OpenAI's published vocabulary and
an independent implementation (bpe-openai, Rust) on real request bodies, edge cases and
generated text."""

from __future__ import annotations

import gzip
import hashlib
import random
import threading
from importlib import resources

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import bpe
from tests.paths import fixture_names, load_fixture
from tests.reference_tokens import reference_count

# tiktoken pins this digest for https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


@pytest.fixture(scope="module")
def encoding() -> bpe.Encoding:
    return bpe.load_o200k()


def test_the_vocabulary_is_openais_o200k_base() -> None:
    packed = resources.files("gateway.data").joinpath(bpe.VOCABULARY).read_bytes()
    text = gzip.decompress(packed)
    assert hashlib.sha256(text).hexdigest() == O200K_SHA256
    assert len(text.splitlines()) == bpe.VOCABULARY_SIZE


def test_every_fixture_counts_as_the_reference(encoding: bpe.Encoding) -> None:
    texts: list[str] = []
    for name in fixture_names():
        body = load_fixture(name)["body"]
        texts.append(orjson.dumps(body).decode())
        system = body.get("system") or []
        texts += [system] if isinstance(system, str) else [block["text"] for block in system]
        for message in body["messages"]:
            content = message["content"]
            if isinstance(content, str):
                texts.append(content)
            else:
                texts += [block["text"] for block in content if block.get("type") == "text"]
    assert len(texts) > 20
    for text in texts:
        assert encoding.count(text) == reference_count(text), text[:200]


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world!",
        "I'm sure they'LL say it's fine; we'VE DONE it'ſ",  # contractions, any case, long s
        "HTTPServer getHTTPResponse XMLHttpRequest iPhone McDonald's",
        "1234567 3.14159 1,000,000 ½ ² Ⅻ ٣٤٥",  # digits go three at a time; other numbers too
        "line one\r\n\r\n   indented\n\n\n\ttab\u3000ideographic \u00a0nbsp\u2028sep",
        "a\x1cb\x1dc\x1ed\x1fe",  # separators Python calls space and Unicode does not
        "  trailing spaces   \n",
        "e\u0301 cafe\u0301 n\u0303o",  # combining marks
        "Grüße aus Köln — naïve façade",
        "Привет, мир! Γειά σου κόσμε",
        "日本語のテキストと中文文本",
        "한국어 텍스트입니다",
        "مرحبا بالعالم",
        "😀😀 👍🏽 👨‍👩‍👧 🇫🇷",  # astral symbols, ZWJ sequences, flags
        "𝐀𝐛𝐜 𝟏𝟐𝟑 𝔄𝔟𝔠",  # astral letters (Lu, Ll) and digits
        "𠀀𠀁 is a rare character, 𐐀𐐨 Deseret",  # astral Lo, astral Lu/Ll
        "x\U0001d165\U0001d166 marks",  # astral combining marks
        "<|endoftext|> and <|im_start|>user",
        "def add(a, b):\n    return a + b  # sums\n\nprint(add(1, 2))",
        '{"type":"object","properties":{"command":{"type":"string"}}}',
        "https://example.com/path/to/file?query=value&x=1#anchor",
        "/usr/local/bin//python3 ../../a/b/",
        "",
    ],
)
def test_edge_cases_count_as_the_reference(encoding: bpe.Encoding, text: str) -> None:
    assert encoding.count(text) == reference_count(text)


assigned = st.characters(exclude_categories=("Cs", "Cn", "Co"))
pieces = st.sampled_from(
    ["the", " The", "'s", "'T", "ing", " ", "  ", "\n", "\r\n", "\t", "123", "4567", ".", "/",
     "->", "::", "😀", "𝐀", "é", "\u0301", "ß", "日本", "Ω", "_", "{", '"', "\u3000"]
)  # fmt: skip


@settings(max_examples=300)
@given(text=st.text(alphabet=assigned, max_size=120))
def test_any_text_counts_as_the_reference(encoding: bpe.Encoding, text: str) -> None:
    assert encoding.count(text) == reference_count(text)


@settings(max_examples=300)
@given(parts=st.lists(st.one_of(pieces, st.text(alphabet=assigned, max_size=4)), max_size=60))
def test_texts_made_of_common_pieces_count_as_the_reference(
    encoding: bpe.Encoding, parts: list[str]
) -> None:
    text = "".join(parts)
    assert encoding.count(text) == reference_count(text)


@pytest.mark.parametrize("length", [2, 40, 255, 256, 257, 1000, 5000, 8192])
def test_long_pieces_merge_exactly_by_scan_and_by_heap(encoding: bpe.Encoding, length: int) -> None:
    rng = random.Random(length)
    word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(length))
    data = word.encode()
    expected = reference_count(word)
    assert encoding.count(word) == expected
    assert encoding.merge_count(data) == expected
    ranks = encoding._ranks
    assert bpe._merge_by_heap(data, ranks) == expected
    if length <= 2000:
        assert bpe._merge_by_scan(data, ranks) == expected


def test_ties_merge_leftmost_first(encoding: bpe.Encoding) -> None:
    # Runs of one letter: every pair has the same rank, so only the leftmost-first rule gives
    # the reference's split, and both merge strategies must follow it.
    for length in (3, 5, 7, 300, 1001):
        for letter in "aZ0.":
            text = letter * length
            data = text.encode()
            expected = reference_count(text)
            assert encoding.count(text) == expected, (letter, length)
            if letter != "0":  # digits are pre-tokenized three at a time; the others are one piece
                assert bpe._merge_by_heap(data, encoding._ranks) == expected, (letter, length)


def test_a_run_longer_than_8_kb_is_counted_from_a_sample_within_a_percent(
    encoding: bpe.Encoding,
) -> None:
    rng = random.Random(7)
    word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(60_000))
    counted, expected = encoding.count(word), reference_count(word)
    assert counted != 0
    assert abs(counted - expected) / expected < 0.01, (counted, expected)


def test_one_encoding_counts_from_many_threads_at_once(encoding: bpe.Encoding) -> None:
    texts = [f"thread {i}: " + "naïve 😀 code() " * (50 + i) for i in range(8)]
    expected = [reference_count(text) for text in texts]
    results: dict[int, list[int]] = {}

    def work(index: int) -> None:
        results[index] = [encoding.count(texts[index]) for _ in range(20)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(results[i] == [expected[i]] * 20 for i in range(8))
