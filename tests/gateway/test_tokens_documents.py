"""Documents and search results count as the text the model gets, not as their JSON."""

from __future__ import annotations

from typing import Any

import orjson

from gateway import tokens
from gateway.schemas.anthropic import parse_count_tokens_request
from gateway.translate.documents import render_document, render_search_result

from .translate.pdfs import b64, text_pdf


def count(*blocks: dict[str, Any]) -> int:
    body = {"model": "m", "messages": [{"role": "user", "content": list(blocks)}]}
    return tokens.count_tokens(parse_count_tokens_request(orjson.dumps(body))) - (
        tokens.MESSAGE_OVERHEAD_TOKENS
    )


def test_a_pdf_counts_as_its_pages_text() -> None:
    pages = [[f"Page {p} line {n}: the ledger balances." for n in range(30)] for p in range(20)]
    source = {"type": "base64", "media_type": "application/pdf", "data": b64(text_pdf(pages))}
    block = {"type": "document", "source": source, "title": "Ledger"}
    rendered = render_document(block, 0, vision=True)
    assert rendered is not None
    assert count(block) == tokens.count_text(rendered.text)
    assert count(block) > 20 * 30 * 8  # far more than the 1,600 an unread PDF is counted at


def test_text_documents_and_search_results_count_as_rendered() -> None:
    document = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "x y z " * 50},
    }
    result = {
        "type": "search_result",
        "source": "https://a.test",
        "title": "A",
        "content": [{"type": "text", "text": "alpha beta " * 40}],
    }
    rendered = render_document(document, 0, vision=True)
    assert rendered is not None
    assert count(document) == tokens.count_text(rendered.text)
    assert count(result) == tokens.count_text(render_search_result(result, 0) or "")


def test_a_source_the_gateway_refuses_is_counted_as_before_not_refused() -> None:
    block = {"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}}
    assert count(block) == tokens.count_text(orjson.dumps(block).decode())
