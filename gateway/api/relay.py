"""The ASGI responders for `POST /v1/messages`: one upstream call, translated back as JSON or SSE.

One relay per request runs two helpers beside the upstream work:
- a disconnect watcher: the client going away (Esc in Claude Code) cancels the work, which
  closes the upstream connection at once, in both modes;
- a keeper timer (streams and non-streams): it commits a silent stream after `commit_after`
  (200 + message_start, so that pings can flow while a local model prefills), sends `ping` when
  `ping_interval` passes without a byte to the client, and enforces the first-byte and idle
  timeouts from the time of the last upstream byte, so no read is wrapped in a timeout, and
  the deadline of an answer read whole (a trickle of bytes does not hold it up).
Before the commit an error is an HTTP error; after it, an `event: error` with the same type and
wording.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.api.error_answers import send_error
from gateway.api.hops import Hop, Hops, falls_back, outcome_of
from gateway.api.record import RecordDraft
from gateway.errors import (
    BackendBusy,
    BackendUnavailable,
    GatewayError,
    Overloaded,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.events import EventBus
from gateway.repair.tool_choice import satisfies
from gateway.router import Router, Verdict
from gateway.translate.lines import DEFAULT_MAX_LINE
from gateway.translate.sse import encode
from gateway.translate.stream import Event, events_from_message
from gateway.upstream.client import MAX_JSON_BODY
from gateway.upstream.protocol import ReplySpec, StreamDecoder, Unstreamed

if TYPE_CHECKING:
    from gateway.api.reviewer import Reviewer

__all__ = ["FixedAnswer", "MessagesRelay"]

log = logging.getLogger("lmgate.relay")


_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_JSON_HEADERS = [(b"content-type", b"application/json")]
_PING = encode([("ping", {"type": "ping"})])
# A line still without its end past _FREE_LINE bytes is read at _LONG_LINE_RATE bytes/s at most:
# two backends pouring out endless lines (to the 4 MiB cap, again and again: ~780 MB/s) held the
# event loop, and every other client's p99 went 2.2-2.8x its idle figure (1.0-1.1x paced; the
# fault soak in tests/bench). A real line that long, never seen from a chat backend, waits
# ~47 ms for its next 3 MiB.
_FREE_LINE = 1 << 20
_LONG_LINE_RATE = 64 << 20


class MessagesRelay(Response):
    """A Starlette Response only so that FastAPI passes it through untouched."""

    background: BackgroundTask | None = None

    def __init__(
        self,
        *,
        hop: Hop,
        stream: bool,
        message_id: str,
        client_model: str,
        draft: RecordDraft,
        bus: EventBus,
        commit_after: float,
        ping_interval: float,
        hops: Hops | None = None,
        router: Router | None = None,
        on_unreachable: Callable[[], None] | None = None,
        capture: bool = False,
        review: Reviewer | None = None,
        on_complete: Callable[[dict[str, Any]], Awaitable[Mapping[str, Any]]] | None = None,
        max_line: int = DEFAULT_MAX_LINE,
    ) -> None:
        self.stream = stream
        self.message_id = message_id
        self.client_model = client_model
        self.draft = draft
        self.bus = bus
        self.commit_after = commit_after
        self.ping_interval = ping_interval
        # The later hops, asked for after a failure before the commit; the router learns from
        # each hop (in-flight counts, breakers).
        self.hops = hops
        self.router = router
        self.on_unreachable = on_unreachable
        self.capture = capture
        # Auto mode's review: it holds the final message_delta until the verdicts are in.
        self.review = review
        # Called once with the client's whole message when the answer is complete, just before
        # its last frame is sent (never after an error or a cut stream): it stores a thread turn
        # and returns the fields the answer gets at its top level (api/completion.py).
        self.on_complete = on_complete
        self._completed = False
        self.max_line = max_line
        self.committed = False
        self.last_byte = 0.0
        self.last_send = 0.0
        self.timed_out: GatewayError | None = None
        self._lock = asyncio.Lock()
        self._kick = asyncio.Event()  # wakes the keeper when the stream is committed
        self._send: Send | None = None
        self._use(hop)

    def _use(self, hop: Hop) -> None:
        """Speak to `hop` from now on: its backend, its plan, a fresh decoder."""
        self.hop = hop
        self.upstream = hop.upstream
        self.plan = plan = hop.plan
        self.queue = hop.queue
        self.reply = ReplySpec(
            self.message_id,
            self.client_model,
            plan.prompt_tokens or 0,
            plan.tool_names,
            hop.upstream.base_url,
            show_thinking=plan.show_thinking,
            max_line=self.max_line,
        )
        # An answer fetched whole needs no decoder: only its opening, when committed early.
        self.decoder: StreamDecoder = (
            plan.protocol.decoder(self.reply) if plan.stream_upstream else Unstreamed(self.reply)
        )
        self.got_bytes = False
        self._pending: list[Event] = []  # events held back until the stream is committed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        self._send = send
        self.last_byte = self.last_send = self._t0 = self._t_admitted = loop.time()
        work = asyncio.create_task(self._work())
        watcher = asyncio.create_task(_wait_disconnect(receive))
        keeper = asyncio.create_task(self._keep(work))
        try:
            await asyncio.wait((work, watcher), return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                # The client went away: cancelling the work closes the upstream response.
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
                self.draft.status = 499
                self.draft.error = "the client closed the connection"
            else:
                work.result()
        finally:
            keeper.cancel()
            watcher.cancel()
            if self.decoder.has_content and self.draft.usage is None:
                self.draft.usage = self.decoder.usage
            self.draft.load_ms = self.decoder.load_ms
            self.draft.publish(self.bus)

    async def _work(self) -> None:
        try:
            try:
                await self._hops()
            except asyncio.CancelledError:
                if self.timed_out is None:
                    raise
                raise self.timed_out from None
        except GatewayError as exc:
            await self._report(exc)
        except Exception as exc:  # never a traceback to the client
            log.exception("relay failed")
            await self._report(UpstreamError(f"the gateway failed: {type(exc).__name__}: {exc}"))

    async def _hops(self) -> None:
        """Each hop in turn until one answers; the next only after a failure that allows it
        (api.hops.falls_back) and only while nothing has been sent to the client."""
        loop = asyncio.get_running_loop()
        while True:
            choice = self.hop.choice
            started = loop.time()
            verdict: Verdict = "abandoned"
            if self.router is not None:
                self.router.begin(choice.backend_id)
            try:
                await self._attempt()
                verdict = "ok"
                self._hop_done("ok", started)
                return
            except asyncio.CancelledError:
                if self.timed_out is not None:
                    verdict = "failed"
                    self._hop_done(outcome_of(self.timed_out), started)
                raise
            except (GatewayError, httpx.TransportError) as caught:
                error = self._cut(caught) if isinstance(caught, httpx.TransportError) else caught
                verdict = _verdict(error, self.got_bytes)
                outcome = outcome_of(error)
                if self.committed:
                    outcome += " after the answer began"
                self._hop_done(outcome, started)
                if isinstance(error, BackendUnavailable) and self.on_unreachable is not None:
                    self.on_unreachable()
                nxt = None
                if not self.committed and self.hops is not None and falls_back(error):
                    nxt = await self.hops.next(error)
                if nxt is None:
                    raise error from None
            finally:
                if self.router is not None:
                    self.router.end(choice.backend_id, verdict)
            self._switch(nxt)

    def _switch(self, hop: Hop) -> None:
        self._use(hop)
        self._t_admitted = self.last_byte = asyncio.get_running_loop().time()
        draft = self.draft
        draft.backend, draft.backend_model = hop.choice.backend_id, hop.choice.model
        draft.extra["protocol"] = hop.plan.protocol.name
        draft.queue_ms = None
        draft.changes.extend(hop.plan.changes)
        draft.warnings.extend(hop.plan.warnings)

    def _hop_done(self, outcome: str, started: float) -> None:
        ms = (asyncio.get_running_loop().time() - started) * 1000
        self.draft.attempted(self.hop.choice.backend_id, self.hop.choice.model, outcome, ms)

    async def _attempt(self) -> None:
        if self.queue is None:
            await self._relay()
            return
        async with self.queue.admit(self.plan.priority) as waited:
            self.draft.queue_ms = round(waited * 1000, 2)
            # Time in the queue does not count against the backend's timeouts.
            self._t_admitted = self.last_byte = asyncio.get_running_loop().time()
            await self._relay()

    def _cut(self, exc: httpx.TransportError) -> UpstreamError:
        """The backend closed or broke the connection while answering."""
        reason = str(exc).split(":", 1)[0] or type(exc).__name__
        return UpstreamError(
            f"the backend at {self.upstream.base_url} closed the connection before the "
            f"model finished ({reason})"
        )

    async def _relay(self) -> None:
        if not self.plan.stream_upstream and (self.stream or self.plan.requirement):
            await self._relay_fetched()
        elif self.stream:
            await self._relay_stream()
        else:
            await self._relay_once()

    async def _report(self, exc: GatewayError) -> None:
        self.draft.error = exc.message
        await self._fail(exc)

    def _open(self) -> AbstractAsyncContextManager[httpx.Response]:
        return self.plan.protocol.open(self.upstream, self.plan.request, self.draft.changes)

    async def _relay_stream(self) -> None:
        loop = asyncio.get_running_loop()
        decoder = self.decoder
        async with self._open() as response:
            self.got_bytes = True
            self.last_byte = loop.time()
            unframed = 0  # bytes read since the last whole item
            async for data in response.aiter_bytes():
                self.last_byte = loop.time()
                events, done, failure = decoder.feed(data)
                unframed = 0 if events else unframed + len(data)
                if unframed > _FREE_LINE:
                    await asyncio.sleep(len(data) / _LONG_LINE_RATE)
                if failure is None:
                    await self._complete(events)
                await self._forward(events)
                if failure is not None:
                    raise failure
                if done:
                    break
        final = decoder.finish()
        if self.review is not None:
            await self._forward(final)  # all but the final message_delta, which waits
            final = await self.review.release()
        self.draft.stop_reason = decoder.stop_reason
        self._note(*decoder.notes())
        await self._complete(final)
        await self._emit(final, last=True)
        if self.capture:
            self.draft.response_body = decoder.message()

    async def _complete(self, events: list[Event]) -> None:
        """The stream's final message_delta is among `events` (both state machines send it last,
        with message_stop, once the answer is whole): the completion hook runs, once, and its
        fields go in that message_delta."""
        if self.on_complete is None or self._completed:
            return
        for name, payload in events:
            if name == "message_delta":
                self._completed = True
                payload.update(await self.on_complete(self.decoder.message()))

    def _note(self, repairs: list[str], warnings: list[str]) -> None:
        self.draft.changes.extend(repairs)
        self.draft.warnings.extend(warnings)

    async def _forward(self, events: list[Event]) -> None:
        if self.review is not None:
            events = self.review.hold(events)
        if not events:
            return
        if self.committed or self.decoder.has_content:
            await self._emit(events)
        else:  # a role-only first chunk is not content: the stream is not committed on it
            self._pending += events

    async def _fetch(self) -> dict[str, Any]:
        """One non-streamed upstream call, as an Anthropic message."""
        loop = asyncio.get_running_loop()
        async with self._open() as response:
            self.got_bytes = True
            self.last_byte = loop.time()
            parts: list[bytes] = []
            size = 0
            async for data in response.aiter_bytes():
                self.last_byte = loop.time()
                size += len(data)
                if size > MAX_JSON_BODY:
                    raise UpstreamError(
                        f"the backend's answer is larger than {MAX_JSON_BODY >> 20} MB; refused"
                    )
                parts.append(data)
        message, notes = self.plan.protocol.parse(b"".join(parts), self.reply)
        self.draft.changes.extend(notes)
        return message

    async def _relay_once(self) -> None:
        message = await self._fetch()
        message["id"] = self.message_id  # native backends use their own ids (chatcmpl-…)
        if self.review is not None:
            message = await self.review.on_message(message)
        await self._finished(message)
        await self._respond_json(orjson.dumps(message))

    async def _relay_fetched(self) -> None:
        """Ask without streaming, check the answer, and answer the client as it asked: used to
        emulate tool_choice (the model is asked in words, and once more if it did not call the
        tool) and for backends that cannot stream."""
        requirement = self.plan.requirement
        message = await self._fetch()
        if requirement is not None and not satisfies(message, requirement):
            self.draft.changes.append("asked again: the model did not call the required tool")
            message = await self._fetch()
            if not satisfies(message, requirement):
                wanted = " or ".join(f"`{name}`" for name in requirement.names)
                self.draft.warnings.append(
                    f"tool_choice not honoured: the model did not call {wanted}"
                )
        message["id"] = self.message_id
        if self.review is not None:
            message = await self.review.on_message(message)
        await self._finished(message)
        if not self.stream:
            await self._respond_json(orjson.dumps(message))
            return
        events = events_from_message(message)
        if self.committed:
            events = events[1:]  # message_start went out when the stream was committed
        await self._emit(events, last=True, with_start=False)

    async def _finished(self, message: dict[str, Any]) -> None:
        self.draft.mark_first_token()
        self.draft.usage = message.get("usage")
        self.draft.stop_reason = message.get("stop_reason")
        if self.capture:
            self.draft.response_body = message
        if self.on_complete is not None and not self._completed:
            self._completed = True
            message.update(await self.on_complete(message))

    async def _respond_json(self, body: bytes) -> None:
        assert self._send is not None
        async with self._lock:
            self.committed = True
            self.draft.status = 200
            headers = [*_JSON_HEADERS, (b"request-id", self.draft.request_id.encode())]
            await self._send({"type": "http.response.start", "status": 200, "headers": headers})
            await self._send({"type": "http.response.body", "body": body, "more_body": False})

    async def _emit(
        self, events: list[Event], *, last: bool = False, with_start: bool = True
    ) -> None:
        assert self._send is not None
        async with self._lock:
            if not self.committed:
                await self._commit(with_start=with_start)
            if events:
                if self.draft.ttft_ms is None and self.decoder.has_content:
                    self.draft.mark_first_token()
                await self._send(
                    {"type": "http.response.body", "body": encode(events), "more_body": not last}
                )
            elif last:
                await self._send({"type": "http.response.body", "body": b"", "more_body": False})
            self.last_send = asyncio.get_running_loop().time()

    async def _commit(self, *, with_start: bool = True) -> None:
        assert self._send is not None
        self.committed = True
        self._kick.set()
        self.draft.status = 200
        headers = [*_SSE_HEADERS, (b"request-id", self.draft.request_id.encode())]
        await self._send({"type": "http.response.start", "status": 200, "headers": headers})
        start = (self.decoder.start() if with_start else []) + self._pending
        self._pending = []
        if start:
            await self._send(
                {"type": "http.response.body", "body": encode(start), "more_body": True}
            )

    async def _fail(self, exc: GatewayError) -> None:
        assert self._send is not None
        async with self._lock:
            committed = self.committed
            if committed:
                self.draft.extra["error_status"] = exc.status
            else:
                self.committed = True
                self.draft.status = exc.status
            await send_error(self._send, exc, self.draft.request_id, committed=committed)

    async def _keep(self, work: asyncio.Task[None]) -> None:
        """Commit, ping and time out from one timer; see the module docstring."""
        loop = asyncio.get_running_loop()
        first_byte = self.upstream.timeouts.first_byte
        idle = self.upstream.timeouts.idle
        deadline = self.upstream.timeouts.deadline
        while not work.done():
            now = loop.time()
            whole = not (self.stream and self.plan.stream_upstream)  # per hop
            if not self.got_bytes:
                timeout_at = self._t_admitted + first_byte
            else:
                timeout_at = self.last_byte + idle
            if whole:
                deadline_at = self._t_admitted + deadline
                if now >= deadline_at:
                    self.timed_out = UpstreamTimeout(
                        f"the backend at {self.upstream.base_url} did not finish its answer "
                        f"within {deadline:g} s"
                    )
                    work.cancel()
                    return
                timeout_at = min(timeout_at, deadline_at)
            if now >= timeout_at:
                what = "send anything" if not self.got_bytes else "send more"
                limit = first_byte if not self.got_bytes else idle
                self.timed_out = UpstreamTimeout(
                    f"the backend at {self.upstream.base_url} did not {what} within {limit:g} s"
                )
                work.cancel()
                return
            wake = timeout_at
            if self.stream:
                if not self.committed:
                    commit_at = self._t0 + self.commit_after
                    # Content the translator holds back (a text tool call's opening, a call
                    # still without its name) is no reason to stay silent: commit all the same.
                    if now >= commit_at:
                        async with self._lock:
                            if not self.committed:
                                await self._commit()
                                self.last_send = loop.time()
                        continue
                    wake = min(wake, commit_at)
                else:
                    ping_at = self.last_send + self.ping_interval
                    if now >= ping_at:
                        async with self._lock:
                            if (
                                loop.time() - self.last_send >= self.ping_interval
                                and not work.done()
                            ):
                                assert self._send is not None
                                await self._send(
                                    {"type": "http.response.body", "body": _PING, "more_body": True}
                                )
                                self.last_send = loop.time()
                        continue
                    wake = min(wake, ping_at)
            self._kick.clear()
            try:
                await asyncio.wait_for(self._kick.wait(), max(0.0, wake - now) + 0.001)
            except TimeoutError:
                pass


class FixedAnswer(Response):
    """A complete Anthropic message sent without a backend (the web-search notice)."""

    background: BackgroundTask | None = None

    def __init__(self, message: dict[str, Any], *, stream: bool, draft: RecordDraft, bus: EventBus):
        self.message = message
        self.stream = stream
        self.draft = draft
        self.bus = bus

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = (b"request-id", self.draft.request_id.encode())
        if self.stream:
            body = encode(events_from_message(self.message))
            headers = [*_SSE_HEADERS, rid]
        else:
            body = orjson.dumps(self.message)
            headers = [*_JSON_HEADERS, rid]
        self.draft.status = 200
        self.draft.stop_reason = self.message.get("stop_reason")
        self.draft.usage = self.message.get("usage")
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
        finally:
            self.draft.publish(self.bus)


def _verdict(error: GatewayError, got_bytes: bool) -> Verdict:
    """What a failed hop says of the backend's health (its breaker)."""
    if isinstance(error, BackendBusy):
        return "neutral"  # the gateway's own queue, not the backend
    if isinstance(error, (BackendUnavailable, UpstreamTimeout, Overloaded)):
        return "failed"
    if isinstance(error, UpstreamError) and (error.status >= 500 or got_bytes):
        return "failed"
    return "neutral"


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
