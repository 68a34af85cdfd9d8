"""Requests whose HTTP framing is ambiguous get Anthropic's 400 before anything reads them.

RFC 9112 §3.2: a server MUST answer 400 to a request with more than one Host header line (which
one a proxy and the gateway each believe decides what the DNS-rebinding check sees: with two,
the last one won and `Host: evil.example` got through). RFC 9112 §6.3: Content-Length values that
disagree leave the body's end undefined, the root of request smuggling. HTTP parsers refuse most
broken framing themselves, with a plain-text 400; `AnthropicHttpToolsProtocol` makes that answer
Anthropic's envelope too, so that every answer a client gets has the same shape.
"""

from __future__ import annotations

from collections.abc import Iterable

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.errors import InvalidRequest

__all__ = ["AmbiguousFraming", "AnthropicHttpToolsProtocol", "ambiguous_framing"]


class AmbiguousFraming(InvalidRequest):
    """400, and the connection closed: where this request ends, and so where the next one
    starts, is not something to guess."""

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "connection": "close"}


def ambiguous_framing(headers: Iterable[tuple[bytes, bytes]]) -> AmbiguousFraming | None:
    """The 400 for a request with two Host headers or Content-Lengths that disagree; None when
    its framing is clear."""
    hosts = 0
    lengths: set[bytes] = set()
    for name, value in headers:
        if name == b"host":
            hosts += 1
        elif name == b"content-length":
            # "5, 5" is one length said twice (RFC 9110 §8.6); "5, 6" is two.
            lengths.update(part.strip() for part in value.split(b","))
    if hosts > 1:
        return AmbiguousFraming(
            f"the request has {hosts} Host headers; an HTTP request names exactly one host"
        )
    if len(lengths) > 1:
        return AmbiguousFraming(
            "the request's Content-Length headers disagree, so where its body ends is unclear"
        )
    return None


class AnthropicHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering a request its parser refuses (conflicting
    Content-Lengths, Content-Length with chunked, a malformed line) in Anthropic's format."""

    def send_400_response(self, msg: str) -> None:
        error = AmbiguousFraming(
            "the request is not valid HTTP/1.1 (for example, Content-Length headers that "
            "disagree, or Content-Length together with Transfer-Encoding) and was not read"
        )
        body = error.body()
        head = [b"HTTP/1.1 400 Bad Request"]
        head += [name + b": " + value for name, value in self.server_state.default_headers]
        head += [
            k.encode("latin-1") + b": " + v.encode("latin-1") for k, v in error.headers().items()
        ]
        # error.headers() says `connection: close`, which the close below keeps.
        head += [b"content-type: application/json", b"content-length: %d" % len(body)]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self.transport.close()
