"""Per-backend queueing over HTTP: a one-slot backend (LM Studio) gets one request at a time,
main-loop requests before side ones, 529 past the queue depth, streamed waiters kept alive, and
a waiter that leaves gives its place back."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from gateway.queueing import BackendQueue
from gateway.runner import GatewayServer
from tests.fakes.replies import DEFAULT_TEXT, Gate, Held, Text
from tests.fakes.server import FakeBackend
from tests.gateway.api.client import (
    Gateway,
    Start,
    body,
    last_record,
    message_of,
    post,
    start_pair,
    streaming,
    wait_until,
)
from tests.gateway.translate.grammar import Event, accumulate, assert_valid_stream, parse_sse


def queue_of(server: GatewayServer) -> BackendQueue | None:
    assert server.app_state is not None
    queue: BackendQueue | None = server.app_state.queues.get("fake")
    return queue


def wait_for_waiting(server: GatewayServer, count: int) -> None:
    def waiting() -> bool:
        queue = queue_of(server)
        return queue is not None and queue.waiting == count

    wait_until(waiting, f"{count} request(s) waiting for the backend")


@contextmanager
def busy(fake: FakeBackend) -> Iterator[tuple[Gate, ThreadPoolExecutor]]:
    """The next request holds the backend until the gate opens (at the latest on the way out,
    so that a failing test does not leave requests hanging); a pool to send the others."""
    gate = Gate()
    fake.script(Held(gate, Text("first")))
    pool = ThreadPoolExecutor(4)
    try:
        yield gate, pool
    finally:
        gate.open()
        pool.shutdown(wait=True)


def send(pool: ThreadPoolExecutor, server: GatewayServer, payload: dict[str, Any]) -> Future[Any]:
    return pool.submit(post, server, payload)


def texts(fake: FakeBackend) -> list[str]:
    """What each request the backend got said, in the order they arrived."""
    return [r.body["messages"][-1]["content"] for r in fake.chat_requests]


def test_a_one_slot_backend_gets_one_request_at_a_time(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(fake_backend, gateway_server, "lmstudio")
    with busy(fake) as (gate, pool):
        first = send(pool, server, body("A"))
        assert fake.wait_for_requests(1)
        others = [send(pool, server, body(text)) for text in ("B", "C")]
        wait_for_waiting(server, 2)
        assert texts(fake) == ["A"]
        gate.open()
        answers = [message_of(f.result()) for f in (first, *others)]
    assert [a["content"][0]["text"] for a in answers] == ["first", DEFAULT_TEXT, DEFAULT_TEXT]
    assert fake.max_in_flight == 1
    assert sorted(texts(fake)[1:]) == ["B", "C"]
    by_text = {r.request_body["messages"][0]["content"]: r for r in records.wait(3)}
    assert by_text["A"].queue_ms is not None and by_text["A"].queue_ms < 1000
    # B and C waited for A, which waited for the test to open the gate.
    assert all(by_text[t].queue_ms > by_text["A"].queue_ms for t in ("B", "C"))  # type: ignore[operator]


def test_main_loop_requests_go_before_side_requests(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(fake_backend, gateway_server, "lmstudio")
    with busy(fake) as (gate, pool):
        first = send(pool, server, body("main 1"))
        assert fake.wait_for_requests(1)
        side = send(pool, server, {**body("side"), "model": "claude-haiku-4-5"})
        wait_for_waiting(server, 1)
        main = send(pool, server, body("main 2"))
        wait_for_waiting(server, 2)
        gate.open()
        for future in (first, side, main):
            message_of(future.result())
    # The side request arrived first, and was served last.
    assert texts(fake) == ["main 1", "main 2", "side"]
    by_text = {r.request_body["messages"][0]["content"]: r for r in records.wait(3)}
    assert by_text["side"].request_class == "side" and by_text["main 2"].request_class == "main"
    assert by_text["side"].queue_ms > by_text["main 2"].queue_ms  # type: ignore[operator]


def test_beyond_the_queue_depth_is_529_with_retry_after(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(fake_backend, gateway_server, "lmstudio", queue_depth=1)
    with busy(fake) as (gate, pool):
        first = send(pool, server, body("A"))
        assert fake.wait_for_requests(1)
        waiting = send(pool, server, body("B"))
        wait_for_waiting(server, 1)
        refused = post(server, body("C", stream=True))
        assert refused.status_code == 529
        assert refused.json()["error"]["type"] == "overloaded_error"
        assert "queue depth 1" in refused.json()["error"]["message"]
        assert refused.headers["retry-after"] == "2"
        assert refused.headers["x-should-retry"] == "true"
        gate.open()
        message_of(first.result())
        message_of(waiting.result())
    assert texts(fake) == ["A", "B"]
    statuses = sorted(r.status for r in records.wait(3))
    assert statuses == [200, 200, 529]


def read_until(want: set[str], stream: Iterator[bytes]) -> bytes:
    """Read a stream until each event in `want` has been seen; the bytes read so far."""
    data = b""
    for chunk in stream:
        data += chunk
        complete = data[: data.rfind(b"\n\n") + 2] if b"\n\n" in data else b""
        if want <= {name for name, _ in parse_sse(complete)}:
            return data
    raise AssertionError(f"the stream ended before {want}: {data!r}")


def test_a_waiting_stream_gets_message_start_and_pings(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(
        fake_backend, gateway_server, "lmstudio", commit_after=0.1, ping_interval=0.2
    )
    with busy(fake) as (gate, pool):
        first = send(pool, server, body("A"))
        assert fake.wait_for_requests(1)
        with streaming(server, body("B", stream=True)) as response:
            assert response.status_code == 200
            chunks = response.iter_bytes()
            early = read_until({"message_start", "ping"}, chunks)
            # Still waiting: the backend has seen only the first request.
            assert texts(fake) == ["A"]
            gate.open()
            rest = b"".join(chunks)
        message_of(first.result())
    events: list[Event] = parse_sse(early + rest)
    assert_valid_stream(events)
    assert accumulate(events)["content"] == [{"type": "text", "text": DEFAULT_TEXT}]
    record = next(r for r in records.wait(2) if r.stream)
    assert record.status == 200 and record.queue_ms is not None and record.queue_ms > 0


def test_a_waiting_client_that_leaves_gives_its_place_back(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(
        fake_backend, gateway_server, "lmstudio", queue_depth=1, commit_after=0.1
    )
    with busy(fake) as (gate, pool):
        first = send(pool, server, body("A"))
        assert fake.wait_for_requests(1)
        with streaming(server, body("B", stream=True)) as response:
            assert response.status_code == 200  # committed while it waits
            wait_for_waiting(server, 1)
            assert post(server, body("full")).status_code == 529
        # B hung up: its place is free again.
        wait_for_waiting(server, 0)
        later = send(pool, server, body("C"))
        wait_for_waiting(server, 1)
        gate.open()
        message_of(first.result())
        message_of(later.result())
    assert texts(fake) == ["A", "C"]
    left = next(r for r in records.wait(4) if r.status == 499)
    assert left.stream and left.error == "the client closed the connection"


def test_big_and_small_swapping_is_warned_on_the_record(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    """Two models on one LM Studio that keeps only the big one loaded: the small request says so."""
    backend, server, sink = start_pair(
        fake_backend,
        gateway_server,
        "lmstudio",
        fake={"models": ["big-model", "small-model"], "loaded": ["big-model"]},
        big="big-model",
        small="small-model",
    )
    user = {"role": "user", "content": "hi"}
    post(server, {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [user]})
    record = last_record(sink)
    assert any("each switch reloads" in w and "--fix-swap" in w for w in record.warnings)
    post(server, {"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [user]})
    assert not [w for w in last_record(sink, 2).warnings if "reloads" in w]
