"""Documents and search results as text: each source type, PDFs page by page, and the refusals."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest

from gateway.errors import InvalidRequest
from gateway.schemas.anthropic import parse_messages_request
from gateway.translate.documents import (
    MAX_PDF_PAGES,
    NO_PDF_TEXT,
    Rendered,
    pdf_pages,
    render_document,
    render_search_result,
)
from gateway.translate.ollama import openai_to_ollama_chat
from gateway.translate.request import BackendTraits, Translation, anthropic_to_openai

from .pdfs import b64, shapes_pdf, text_pdf

PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
REPORT = text_pdf([["Quarterly report", "Revenue rose 4%."], [], ["Outlook: (steady)"]])


def pdf_source(data: bytes) -> dict[str, Any]:
    return {"type": "base64", "media_type": "application/pdf", "data": b64(data)}


def document(source: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "document", "source": source, **extra}


def search_result(source: str, title: str, *texts: str) -> dict[str, Any]:
    content = [{"type": "text", "text": text} for text in texts]
    return {"type": "search_result", "source": source, "title": title, "content": content}


RENDERED = [
    (
        "text source",
        document({"type": "text", "media_type": "text/plain", "data": "Plain words."}),
        '<document index="3">\nPlain words.\n</document>',
    ),
    (
        "title and context",
        document(
            {"type": "text", "media_type": "text/plain", "data": "Body"},
            title='The "R&D" <plan>',
            context="Written in 2025.",
            citations={"enabled": True},
            cache_control={"type": "ephemeral"},
        ),
        '<document index="3" title="The &quot;R&amp;D&quot; &lt;plan&gt;">\n'
        "<context>Written in 2025.</context>\nBody\n</document>",
    ),
    (
        "content source, a string",
        document({"type": "content", "content": "Inline content."}),
        '<document index="3">\nInline content.\n</document>',
    ),
    (
        "content source, text blocks",
        document(
            {
                "type": "content",
                "content": [
                    {"type": "text", "text": "First."},
                    {"type": "text", "text": "Second."},
                ],
            }
        ),
        '<document index="3">\nFirst.\n\nSecond.\n</document>',
    ),
    (
        "base64 PDF, page by page",
        document(pdf_source(REPORT), title="Q3"),
        '<document index="3" title="Q3">\n'
        "[page 1]\nQuarterly report\nRevenue rose 4%.\n\n"
        "[page 2: no text]\n\n"
        "[page 3]\nOutlook: (steady)\n</document>",
    ),
    (
        "uncompressed PDF",
        document(pdf_source(text_pdf([["one"], ["two"]], compress=False))),
        '<document index="3">\n[page 1]\none\n\n[page 2]\ntwo\n</document>',
    ),
    (
        "PDF without text",
        document(pdf_source(shapes_pdf(2))),
        f'<document index="3">\n{NO_PDF_TEXT}\n</document>',
    ),
]


@pytest.mark.parametrize(("label", "block", "expected"), RENDERED, ids=[r[0] for r in RENDERED])
def test_documents_render_as_text(label: str, block: dict[str, Any], expected: str) -> None:
    rendered = render_document(block, 3, vision=True)
    assert rendered is not None
    assert rendered.text == expected
    assert rendered.unreadable_pdf == (label == "PDF without text")


def test_a_content_document_keeps_its_images_in_order() -> None:
    source = {
        "type": "content",
        "content": [
            {"type": "text", "text": "Figure:"},
            {"type": "image", "source": PNG},
            {"type": "image"},  # no source: nothing to show
        ],
    }
    seen = render_document(document(source), 0, vision=True)
    blind = render_document(document(source), 0, vision=False)
    note = "[image omitted: this model has no vision]"
    assert seen == Rendered(
        '<document index="0">\nFigure:\n\n[image attached below]\n\n' + note + "\n</document>",
        ({"type": "image", "source": PNG},),
        omitted_images=1,
    )
    assert blind == Rendered(
        f'<document index="0">\nFigure:\n\n{note}\n\n{note}\n</document>', (), omitted_images=2
    )


@pytest.mark.parametrize(
    "block",
    [
        {"type": "document"},
        document({}),
        document({"type": "text", "data": "no media type"}),
        document({"type": "text", "media_type": "text/plain", "data": 7}),
        document({"type": "base64", "media_type": "image/png", "data": "iVBO"}),
        document({"type": "hologram"}),
    ],
)
def test_a_document_without_a_usable_source_is_left_to_the_placeholder(
    block: dict[str, Any],
) -> None:
    assert render_document(block, 0, vision=True) is None


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ({"type": "url", "url": "https://example.com/a.pdf"}, "`url` is not supported"),
        ({"type": "file", "file_id": "file_011"}, "`file` is not supported"),
        (pdf_source(b"this is not a PDF"), "could not be opened"),
        ({"type": "base64", "media_type": "application/pdf", "data": "JVBER"}, "not valid base64"),
    ],
)
def test_sources_the_gateway_cannot_read_are_a_400(source: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidRequest, match=words) as caught:
        render_document(document(source), 0, vision=True)
    assert caught.value.status == 400


def test_a_pdf_over_the_page_limit_is_a_400() -> None:
    assert len(pdf_pages(text_pdf([[]] * MAX_PDF_PAGES))) == MAX_PDF_PAGES
    with pytest.raises(InvalidRequest, match=f"{MAX_PDF_PAGES + 1} pages; at most 600"):
        pdf_pages(text_pdf([[]] * (MAX_PDF_PAGES + 1)))


def test_pdfs_read_from_several_threads_at_once_stay_whole() -> None:
    pdfs = [text_pdf([[f"doc {n} page {p}"] for p in range(1, 30)]) for n in range(4)]
    results: dict[int, list[str]] = {}

    def read(n: int) -> None:
        for _ in range(5):
            results[n] = pdf_pages(pdfs[n])

    threads = [threading.Thread(target=read, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: [f"doc {n} page {p}" for p in range(1, 30)] for n in range(4)}


def test_search_results_render_with_source_and_title() -> None:
    block = search_result("https://docs.test/a?b=1&c=2", "API guide", "Para one.", "Para two.")
    assert render_search_result(block, 2) == (
        '<search_result index="2" source="https://docs.test/a?b=1&amp;c=2" title="API guide">\n'
        "Para one.\n\nPara two.\n</search_result>"
    )


@pytest.mark.parametrize(
    "block",
    [
        {"type": "search_result", "content": []},
        {"type": "search_result", "source": "s", "content": []},
        {"type": "search_result", "source": "s", "title": "t", "content": "not a list"},
    ],
)
def test_a_search_result_missing_required_fields_is_left_to_the_placeholder(
    block: dict[str, Any],
) -> None:
    assert render_search_result(block, 0) is None


def translate(messages: list[dict[str, Any]], *, vision: bool = True) -> Translation:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": messages}
    req = parse_messages_request(orjson.dumps(body))
    return anthropic_to_openai(req, "local", stream=False, traits=BackendTraits(vision=vision))


def test_documents_and_search_results_reach_the_model_in_user_turns_and_tool_results() -> None:
    text_doc = document({"type": "text", "media_type": "text/plain", "data": "Notes."})
    translation = translate(
        [
            {
                "role": "user",
                "content": [
                    text_doc,
                    search_result("https://a.test", "A", "alpha"),
                    {"type": "text", "text": "Read the PDF."},
                ],
            },
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [
                            document(pdf_source(text_pdf([["Read me"]]))),
                            search_result("https://b.test", "B", "beta"),
                        ],
                    }
                ],
            },
        ]
    )
    assert translation.body["messages"] == [
        {
            "role": "user",
            "content": '<document index="0">\nNotes.\n</document>\n\n'
            '<search_result index="0" source="https://a.test" title="A">\nalpha\n</search_result>'
            "\n\nRead the PDF.",
        },
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "Read", "arguments": "{}"}}
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "t1",
            "content": '<document index="1">\n[page 1]\nRead me\n</document>\n'
            '<search_result index="1" source="https://b.test" title="B">\nbeta\n</search_result>',
        },
    ]
    assert translation.changes == (
        "2 documents given to the model as text",
        "2 search results given to the model as text",
    )
    assert translation.warnings == ()
    # Ollama's /api/chat is built from the same body: the text arrives there too.
    ollama = openai_to_ollama_chat(translation.body, num_ctx=4096)
    assert "Notes." in ollama["messages"][0]["content"]
    assert "[page 1]\nRead me" in ollama["messages"][2]["content"]


def test_a_content_document_image_in_a_tool_result_follows_as_a_user_image() -> None:
    source = {"type": "content", "content": [{"type": "image", "source": PNG}]}
    messages = [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": [document(source)]}
            ],
        },
    ]
    seen = translate(messages).body["messages"]
    assert seen[1:] == [
        {
            "role": "tool",
            "tool_call_id": "t1",
            "content": '<document index="0">\n[image attached below]\n</document>',
        },
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
            ],
        },
    ]
    blind = translate(messages, vision=False)
    assert "no vision" in blind.body["messages"][1]["content"]
    assert blind.warnings == ("1 image omitted: this model has no vision",)


def test_an_unreadable_pdf_is_a_warning_on_the_record() -> None:
    translation = translate(
        [
            {
                "role": "user",
                "content": [document(pdf_source(shapes_pdf(1))), {"type": "text", "text": "?"}],
            }
        ]
    )
    assert NO_PDF_TEXT in translation.body["messages"][0]["content"]
    assert translation.warnings == ("1 PDF without extractable text (scanned?)",)


def test_a_url_document_fails_the_translation_with_a_400() -> None:
    with pytest.raises(InvalidRequest, match="does not fetch URLs"):
        translate(
            [
                {
                    "role": "user",
                    "content": [document({"type": "url", "url": "https://x.test/a.pdf"})],
                }
            ]
        )
