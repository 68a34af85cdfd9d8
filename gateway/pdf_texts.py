"""The text of the PDFs the gateway has read, kept by content so that a PDF is extracted once.

A Claude Code session sends the same PDF (a Read's tool result) on every later turn, and each
request reads it twice (the prompt count and the translation): extraction (pypdf, ~0.2 s for 100
pages) is done once per PDF here instead. Held by the gateway's
state and handed to the counter and the translation, which stay pure.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict

from gateway.translate.documents import pdf_text

__all__ = ["PdfTexts"]

# pypdf logs what it finds odd in a document and quotes its bytes ("invalid pdf header:
# b'…'"), and with no handler of its own Python prints that on stderr: a document is part of a
# prompt, which never goes to a log. What is wrong with a PDF reaches the client as the 400.
logging.getLogger("pypdf").setLevel(logging.CRITICAL + 1)


class PdfTexts:
    """`pdf_text` behind a least-recently-used cache keyed by a hash of the base64 data, bounded
    by count and by the bytes of text kept. A PDF that cannot be read is not kept (its error is
    raised each time)."""

    def __init__(self, *, max_entries: int = 64, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._pages: OrderedDict[bytes, tuple[list[str], int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.extractions = 0  # how many PDFs were really read (for tests and the curious)

    def __len__(self) -> int:
        return len(self._pages)

    def __call__(self, data: str) -> list[str]:
        key = hashlib.blake2b(data.encode("ascii", "replace"), digest_size=20).digest()
        with self._lock:
            hit = self._pages.get(key)
            if hit is not None:
                self._pages.move_to_end(key)
                return list(hit[0])
        pages = pdf_text(data)
        size = sum(len(page) for page in pages)
        with self._lock:
            self.extractions += 1
            if size <= self.max_bytes and key not in self._pages:
                self._pages[key] = (pages, size)
                self._bytes += size
                while len(self._pages) > self.max_entries or self._bytes > self.max_bytes:
                    _, (_, dropped) = self._pages.popitem(last=False)
                    self._bytes -= dropped
        return list(pages)
