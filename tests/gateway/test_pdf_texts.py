"""The gateway's PDF text cache: a PDF is extracted once, however often a session sends it."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidRequest
from gateway.pdf_texts import PdfTexts
from gateway.translate.documents import pdf_text
from tests.gateway.translate.pdfs import b64, text_pdf


def test_a_pdf_is_read_once_and_gives_the_same_pages() -> None:
    texts = PdfTexts()
    data = b64(text_pdf([["first page"], ["second page"]]))
    assert texts(data) == pdf_text(data)
    assert texts(data) == pdf_text(data)
    assert texts.extractions == 1 and len(texts) == 1
    # A copy each time: a caller that changes the list changes no one else's.
    texts(data).append("mine")
    assert texts(data) == pdf_text(data)


def test_the_cache_is_bounded_by_count_and_bytes_least_recently_used_first() -> None:
    texts = PdfTexts(max_entries=2, max_bytes=10_000)
    pdfs = [b64(text_pdf([[f"document {n}"]])) for n in range(3)]
    texts(pdfs[0])
    texts(pdfs[1])
    texts(pdfs[0])  # now the most recently used
    texts(pdfs[2])
    assert len(texts) == 2 and texts.extractions == 3
    texts(pdfs[0])
    assert texts.extractions == 3  # still kept
    texts(pdfs[1])
    assert texts.extractions == 4  # was dropped
    small = PdfTexts(max_bytes=5)
    small(pdfs[0])
    assert len(small) == 0  # its text alone is over the budget: read, never kept


def test_an_unreadable_pdf_is_not_kept() -> None:
    texts = PdfTexts()
    broken = b64(b"%PDF-1.4 not really")
    for _ in range(2):
        with pytest.raises(InvalidRequest):
            texts(broken)
    assert len(texts) == 0
