"""Small PDFs written by hand (Helvetica text, or only a drawn shape), for the document tests."""

from __future__ import annotations

import base64
import io
import zlib


def text_pdf(pages: list[list[str]], *, compress: bool = True) -> bytes:
    """One page per entry, each line of text drawn with Helvetica; an empty list is a blank
    page."""
    streams = []
    for lines in pages:
        ops = ["BT /F1 11 Tf 50 760 Td 14 TL"]
        ops += [f"({_escape(line)}) '" for line in lines]
        ops.append("ET")
        streams.append("\n".join(ops).encode("latin-1"))
    return _pdf(streams, compress=compress)


def shapes_pdf(pages: int) -> bytes:
    """Pages with a filled rectangle and no text at all, as a scan looks to a text extractor."""
    return _pdf([b"0.5 g 72 72 300 400 re f"] * pages, compress=False)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _pdf(streams: list[bytes], *, compress: bool) -> bytes:
    objects: list[bytes] = [b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    contents = []
    for stream in streams:
        if compress:
            data = zlib.compress(stream)
            header = b"<< /Length %d /Filter /FlateDecode >>" % len(data)
        else:
            data = stream
            header = b"<< /Length %d >>" % len(data)
        objects.append(header + b"\nstream\n" + data + b"\nendstream")
        contents.append(len(objects))
    pages_id = len(objects) + len(streams) + 1
    kids = []
    for content in contents:
        objects.append(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 1 0 R >> >> /Contents %d 0 R >>" % (pages_id, content)
        )
        kids.append(len(objects))
    refs = b" ".join(b"%d 0 R" % kid for kid in kids)
    objects.append(b"<< /Type /Pages /Kids [" + refs + b"] /Count %d >>" % len(kids))
    objects.append(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\n" % (len(objects) + 1, len(objects)))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()
