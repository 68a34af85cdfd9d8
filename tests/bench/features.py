"""What the request path's own features add, each against the same request without it, through
the benchmark's gateway process and lean fake (no model time in either):

- `rules`: auto mode's rules layer answering a tool-call turn's review (`safeguards`; the
  fake's `ls -la` call is passed by the rules, so no review model is asked);
- `thread`: a message thread's `continue` (one new message, the conversation rebuilt from the
  gateway's store) against the same whole conversation sent in full;
- `pdf`: a 10-page PDF `document` block, read for the first time (each request's PDF differs)
  and resent (read once, by content), against the same prompt without it; also per page.

Rounds interleave the two sides, so that a change in the machine's load hits both; each figure
is the median over every request."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import orjson

from tests.bench.client import Connection, request_bytes
from tests.bench.fake import Mode, marker
from tests.bench.review import SAFEGUARDS
from tests.bench.workloads import Figures, Targets
from tests.gateway.translate.pdfs import b64, text_pdf

__all__ = ["PAGES", "measure_features"]

PAGES = 10
# A short Claude Code-like conversation (the thread's stored part): 8 exchanges of a few lines.
_EXCHANGES = 8
_TOOLS = [
    {
        "name": "Bash",
        "description": "Run a shell command.",
        "input_schema": {
            "type": "object",
            "properties": {"command": {"type": "string"}, "description": {"type": "string"}},
            "required": ["command"],
        },
    }
]


def _request(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-6", "max_tokens": 256, "messages": messages, **extra}


def _conversation() -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for turn in range(_EXCHANGES):
        messages.append({"role": "user", "content": f"Step {turn}: look at the next file. " * 6})
        messages.append({"role": "assistant", "content": f"Done with step {turn}. " * 8})
    return messages


def _pdf(serial: int) -> bytes:
    """PAGES pages of about 30 lines each; `serial` makes the bytes (and the hash) differ."""
    lines = [
        f"Line {n} of the quarterly report, with figures {n * 7} and {n * 13}." for n in range(30)
    ]
    pages = [[f"Page {page} (copy {serial})", *lines] for page in range(PAGES)]
    return text_pdf(pages)


class _Side:
    """One side of a comparison: a keep-alive connection and the requests it sends."""

    def __init__(self, connection: Connection, port: int, expect: bytes) -> None:
        self.connection = connection
        self.port = port
        self.expect = expect
        self.times: list[float] = []

    async def send(self, body: dict[str, Any], *, timed: bool = True) -> dict[str, Any]:
        raw = request_bytes(self.port, "/v1/messages", orjson.dumps(body))
        result = await self.connection.request(raw, keep_body=True)
        if result.status != 200 or self.expect not in result.body:
            raise RuntimeError(f"the gateway answered {result.status}: {result.body[:400]!r}")
        if timed:
            self.times.append(result.total_ms)
        answer: dict[str, Any] = orjson.loads(result.body)
        return answer


def _figures(name: str, plain: list[float], featured: list[float]) -> Figures:
    base, with_it = statistics.median(plain), statistics.median(featured)
    return {
        f"{name}.plain_ms": base,
        f"{name}.with_ms": with_it,
        f"{name}.added_ms": with_it - base,
        f"{name}.ratio": with_it / base,
    }


async def _compare(
    targets: Targets,
    reps: int,
    count: int,
    plain: Callable[[_Side, int], Any],
    featured: Callable[[_Side, int], Any],
    expect: bytes = b'"type":"message"',
    featured_expect: bytes | None = None,
) -> tuple[list[float], list[float]]:
    port = targets.gateway_port
    a = _Side(await Connection.open(port), port, expect)
    b = _Side(await Connection.open(port), port, featured_expect or expect)
    try:
        serial = 0
        await plain(a, -1)  # warm-up of both paths (first imports, first PDF read)
        await featured(b, -1)
        a.times.clear()
        b.times.clear()
        for _ in range(reps):
            for _ in range(count):
                await plain(a, serial)
                serial += 1
            for _ in range(count):
                await featured(b, serial)
                serial += 1
    finally:
        a.connection.close()
        b.connection.close()
    return a.times, b.times


async def measure_features(targets: Targets, *, reps: int, count: int) -> Figures:
    figures: Figures = {}
    tool = marker(Mode(reply="tool", chunks=3))
    turn = _request([{"role": "user", "content": f"List the files. {tool}"}], tools=_TOOLS)

    async def rules_plain(side: _Side, serial: int) -> None:
        await side.send(turn)

    async def rules_on(side: _Side, serial: int) -> None:
        answer = await side.send({**turn, "safeguards": SAFEGUARDS})
        if b'"not_flagged"' not in orjson.dumps(answer):
            raise RuntimeError(f"the rules gave no not_flagged verdict: {answer}")

    plain, reviewed = await _compare(
        targets, reps, count, rules_plain, rules_on, featured_expect=b"safeguard_results"
    )
    figures |= _figures("rules", plain, reviewed)

    stored = _conversation()
    new = {"role": "user", "content": "Now run the tests and tell me what failed."}

    async def thread_plain(side: _Side, serial: int) -> None:
        reply = {"role": "assistant", "content": "Created the thread."}
        await side.send(_request([*stored, reply, new], system="You are a coding agent."))

    async def thread_continue(side: _Side, serial: int) -> None:
        created = await side.send(
            _request(stored, system="You are a coding agent.", thread={"type": "create"}),
            timed=False,
        )
        thread = {"type": "continue", "previous_message_id": created["id"]}
        await side.send(_request([new], thread=thread))

    plain, continued = await _compare(targets, reps, count, thread_plain, thread_continue)
    figures |= _figures("thread", plain, continued)

    ask = {"type": "text", "text": "Summarise this report in one line."}
    pdfs = {serial: b64(_pdf(serial)) for serial in range(-1, 2 * reps * count)}

    def with_pdf(data: str) -> dict[str, Any]:
        source = {"type": "base64", "media_type": "application/pdf", "data": data}
        document = {"type": "document", "source": source}
        return _request([{"role": "user", "content": [document, ask]}])

    async def pdf_plain(side: _Side, serial: int) -> None:
        await side.send(_request([{"role": "user", "content": [ask]}]))

    async def pdf_first(side: _Side, serial: int) -> None:
        await side.send(with_pdf(pdfs[serial]))

    async def pdf_again(side: _Side, serial: int) -> None:
        await side.send(with_pdf(pdfs[-1]))

    plain, first = await _compare(targets, reps, count, pdf_plain, pdf_first)
    figures |= _figures("pdf_first_read", plain, first)
    figures["pdf_first_read.per_page_ms"] = figures["pdf_first_read.added_ms"] / PAGES
    plain, again = await _compare(targets, reps, count, pdf_plain, pdf_again)
    figures |= _figures("pdf_resent", plain, again)
    return figures
