"""`document` and `search_result` blocks as text a model without document support can read."""

from __future__ import annotations

import binascii
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from gateway.errors import InvalidRequest

__all__ = [
    "MAX_PDF_PAGES",
    "NO_PDF_TEXT",
    "PdfReader",
    "Rendered",
    "pdf_pages",
    "pdf_text",
    "render_document",
    "render_search_result",
]

# Anthropic's own limit per PDF; past it the API answers 400 too.
MAX_PDF_PAGES = 600
NO_PDF_TEXT = (
    "[PDF without extractable text: its pages are images (a scan?), which this gateway cannot read]"
)
_IMAGE_BELOW = "[image attached below]"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_NO_VISION = "[image omitted: this model has no vision]"


@dataclass(frozen=True, slots=True)
class Rendered:
    """A document as text; `images` are the image blocks of a content source, in order (each
    marked in the text), or empty when the model has no vision (then marked as omitted)."""

    text: str
    images: tuple[dict[str, Any], ...] = ()
    omitted_images: int = 0
    unreadable_pdf: bool = False


# How a base64 PDF becomes the text of its pages: `pdf_text`, or a cache in front of it (the
# gateway's PdfTexts), handed in by the caller.
PdfReader = Callable[[str], list[str]]


def pdf_text(data: str) -> list[str]:
    """The text of each page of a base64 PDF."""
    return pdf_pages(_decode(data))


def render_document(
    block: Mapping[str, Any], index: int, *, vision: bool, pdf: PdfReader | None = None
) -> Rendered | None:
    """`<document index=… title=…>` with the source's text inside; None when the block has no
    source the API would accept either (the caller puts a placeholder). `url` and `file` sources
    and PDFs that cannot be opened are a 400: the gateway fetches nothing and keeps no files.
    `pdf` reads a base64 PDF (default: `pdf_text`)."""
    source = block.get("source")
    if not isinstance(source, Mapping):
        return None
    kind = source.get("type")
    images: list[dict[str, Any]] = []
    omitted = 0
    unreadable = False
    if kind == "text":
        data = source.get("data")
        if not isinstance(data, str) or source.get("media_type") != "text/plain":
            return None
        body = data
    elif kind == "content":
        body, images, omitted = _content_source(source.get("content"), vision)
    elif kind == "base64":
        data = source.get("data")
        if not isinstance(data, str) or source.get("media_type") != "application/pdf":
            return None
        pages = (pdf if pdf is not None else pdf_text)(data)
        unreadable = not any(page.strip() for page in pages)
        body = NO_PDF_TEXT if unreadable else _with_page_markers(pages)
    elif kind == "url":
        raise InvalidRequest(
            "document source type `url` is not supported by this gateway: it does not fetch "
            "URLs for a local model; send the document as base64 or text instead"
        )
    elif kind == "file":
        raise InvalidRequest(
            "document source type `file` is not supported by this gateway: the Files API is not "
            "available with a local model; send the document as base64 or text instead"
        )
    else:
        return None
    attributes = f'index="{index}"' + _attribute("title", block.get("title"))
    inner = [body]
    context = block.get("context")
    if isinstance(context, str) and context:
        inner.insert(0, f"<context>{context}</context>")
    text = f"<document {attributes}>\n" + "\n".join(inner) + "\n</document>"
    return Rendered(text, tuple(images), omitted, unreadable)


def render_search_result(block: Mapping[str, Any], index: int) -> str | None:
    """`<search_result index=… source=… title=…>` and its text; None when the block lacks the
    source, title or content list the API requires."""
    source, title, content = block.get("source"), block.get("title"), block.get("content")
    if not isinstance(source, str) or not isinstance(title, str) or not isinstance(content, list):
        return None
    texts = [
        part["text"]
        for part in content
        if isinstance(part, Mapping)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
    ]
    attributes = f'index="{index}"' + _attribute("source", source) + _attribute("title", title)
    return f"<search_result {attributes}>\n" + "\n\n".join(texts) + "\n</search_result>"


def pdf_pages(data: bytes) -> list[str]:
    """The text of each page, in order (an empty string for a page without text)."""
    # Which PDF library: pypdf (BSD-3-Clause, pure Python), measured against pypdfium2 (PDFium;
    # Apache-2.0 / BSD-3-Clause) and pdfminer.six (MIT). Text of a generated 100-page PDF, median
    # of 5 runs on a busy 2-core machine: pypdfium2 40-66 ms, pypdf 155-307 ms, pdfminer.six
    # 3.0-3.6 s. In the frozen build pypdfium2 is 6.8 MB (its native library), which took the Linux
    # build to 156 MB against its 150 MB budget; pypdf is ~2 MB and needs no native library that a
    # build could leave out. Its extra time is paid once per PDF (the gateway's PdfTexts cache),
    # and a request that carries a PDF is planned off the event loop (its body is over 16 KB).
    import pypdf
    from pypdf.errors import PyPdfError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise PyPdfError("encrypted")
        count = len(reader.pages)
        if count > MAX_PDF_PAGES:
            raise InvalidRequest(
                f"a PDF document has {count} pages; at most {MAX_PDF_PAGES} are allowed"
            )
        return [_normalise(page.extract_text() or "") for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise InvalidRequest(
            f"a document's PDF could not be opened ({type(exc).__name__}: {exc}): "
            "damaged or password-protected?"
        ) from None


def _decode(data: str) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        raise InvalidRequest("a document's base64 data is not valid base64") from None


def _normalise(text: str) -> str:
    # A PDF's text can carry CRLF line ends and control characters (a NUL at the end of a page,
    # marks for generated hyphens): no model needs those.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).rstrip()


def _with_page_markers(pages: list[str]) -> str:
    return "\n\n".join(
        f"[page {number}]\n{text}" if text.strip() else f"[page {number}: no text]"
        for number, text in enumerate(pages, 1)
    )


def _content_source(content: Any, vision: bool) -> tuple[str, list[dict[str, Any]], int]:
    if isinstance(content, str):
        return content, [], 0
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    omitted = 0
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, Mapping):
            continue
        if part.get("type") == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif part.get("type") == "image":
            if vision and _is_image_source(part.get("source")):
                images.append(dict(part))
                texts.append(_IMAGE_BELOW)
            else:
                omitted += 1
                texts.append(_NO_VISION)
    return "\n\n".join(texts), images, omitted


def _is_image_source(source: Any) -> bool:
    if not isinstance(source, Mapping):
        return False
    if source.get("type") == "base64":
        return isinstance(source.get("media_type"), str) and isinstance(source.get("data"), str)
    return source.get("type") == "url" and isinstance(source.get("url"), str)


def _attribute(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        return ""
    return f' {name}="{escape(value, quote=True)}"'
