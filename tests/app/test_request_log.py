"""The request log's model: newest first, bounded rows and bodies, pause, and the figures."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import psutil
from pytestqt.qtbot import QtBot

from app.bridge import RecordBridge
from app.desktop import Desktop
from app.request_log import RequestLogModel, request_class
from gateway.events import EventBus, RequestRecord

BODY = {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "x" * 4000}]}


def record(n: int, **fields: Any) -> RequestRecord:
    defaults: dict[str, Any] = {
        "request_id": f"req_{n:06d}",
        "started_at": 1_800_000_000.0 + n,
        "method": "POST",
        "path": "/v1/messages",
        "session": "5f1c2d3e-aaaa-bbbb",
        "client_model": "claude-sonnet-4-6",
        "backend": "lmstudio",
        "backend_model": "qwen3",
        "route_rule": "big",
        "stream": True,
        "status": 200,
        "latency_ms": 2100.0,
        "ttft_ms": 100.0,
        "input_tokens": 1000,
        "output_tokens": 400,
        "cached_tokens": 800,
        "request_body": BODY,
        "response_body": {"content": [{"type": "text", "text": "ok"}]},
        "queue_ms": 12.5,
        "extra": {"headers": {"x-api-key": "<redacted>"}},
    }
    return RequestRecord(**{**defaults, **fields})


def texts(model: RequestLogModel, row: int) -> list[str]:
    return [model.index(row, c).data() for c in range(model.columnCount())]


def test_rows_show_newest_first_with_their_figures(qtbot: QtBot) -> None:
    model = RequestLogModel(batch_ms=0)
    model.add(record(1))
    model.add(record(2, stream=False, status=500, error="backend failed", output_tokens=None))
    model.flush()
    assert model.rowCount() == 2
    newest, oldest = texts(model, 0), texts(model, 1)
    assert newest[2:7] == ["main", "claude-sonnet-4-6", "lmstudio/qwen3", "", "500"]
    assert newest[13] == ""  # no tokens, no rate
    assert oldest[1] == "5f1c2d3e"
    assert oldest[5:] == [
        "yes",
        "200",
        "2100 ms",
        "100 ms",
        "12 ms",
        "1,000",
        "400",
        "800",
        "200",
    ]


def test_request_classes() -> None:
    assert request_class(record(1)) == "main"
    assert request_class(record(1, route_rule="haiku")) == "background"
    assert request_class(record(1, path="/v1/messages/count_tokens")) == "count"
    assert request_class(record(1, route_rule="web-search")) == "web search"
    assert request_class(record(1, request_class="title")) == "title"


def test_rows_and_bodies_stay_within_their_bounds(qtbot: QtBot) -> None:
    model = RequestLogModel(max_rows=100, max_bodies=5, max_body_bytes=30_000, batch_ms=0)
    for n in range(250):
        model.add(record(n))
        if n % 7 == 0:
            model.flush()
    model.flush()
    assert model.rowCount() == 100
    assert model.row(0).request_id == "req_000249"
    assert model.row(99).request_id == "req_000150"
    assert model.body_count <= 5 and model.body_bytes <= 30_000
    assert model.bodies("req_000249") is not None
    assert model.bodies("req_000200") is None  # an older row keeps its figures, not its body
    assert texts(model, 49)[4] == "lmstudio/qwen3"


def test_pause_holds_the_table_still_and_resume_catches_up(qtbot: QtBot) -> None:
    model = RequestLogModel(batch_ms=0)
    model.add(record(1))
    model.flush()
    model.set_paused(True)
    model.add(record(2))
    model.add(record(3))
    qtbot.wait(50)
    assert model.rowCount() == 1
    model.set_paused(False)
    assert model.rowCount() == 3
    assert model.row(0).request_id == "req_000003"


def test_records_from_the_gateway_thread_arrive_on_the_gui_thread(qtbot: QtBot) -> None:
    bus = EventBus()
    model = RequestLogModel(batch_ms=20)
    bridge = RecordBridge(bus)
    seen_on: list[threading.Thread] = []
    bridge.record_arrived.connect(lambda r: seen_on.append(threading.current_thread()))
    bridge.record_arrived.connect(model.add)

    def publish() -> None:
        for n in range(20):
            bus.publish(record(n))

    worker = threading.Thread(target=publish)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: model.rowCount() == 20)
    assert set(seen_on) == {threading.main_thread()}
    bridge.close()


def test_ten_thousand_requests_keep_the_table_and_memory_bounded(
    make_desktop: Callable[..., Desktop], qtbot: QtBot
) -> None:
    desktop = make_desktop()
    desktop.window.show()
    desktop.window.show_section("Requests")
    bus, log = desktop.controller.bus, desktop.log
    process = psutil.Process()

    def publish(first: int, count: int, batch: int = 500) -> None:
        # From another thread, as the gateway publishes them, in bursts of `batch` (a busy
        # gateway's second, not 10,000 at once: those would all wait in Qt's event queue
        # together, and the peak, not the log, would set what the process keeps).
        for start in range(first, first + count, batch):
            end = min(start + batch, first + count)

            def send(start: int = start, end: int = end) -> None:
                for n in range(start, end):
                    bus.publish(record(n))

            worker = threading.Thread(target=send)
            worker.start()
            worker.join()
            qtbot.waitUntil(partial(_newest_is, log, f"req_{end - 1:06d}"), timeout=60_000)

    publish(0, 6000)  # warm-up: the table is full and the allocator has its pools
    gc.collect()
    before = process.memory_info().rss

    publish(6000, 10_000)
    gc.collect()
    grown = process.memory_info().rss - before

    assert log.rowCount() == 5000
    assert desktop.window.requests.proxy.rowCount() == 5000
    assert log.body_count == 50 and log.body_bytes <= 20 * 1024 * 1024
    # 0.2 MB measured; 10,000 records the log failed to drop would be tens of MB.
    assert grown <= 5 * 1024 * 1024, f"RSS grew by {grown / 1e6:.1f} MB"


def _newest_is(log: RequestLogModel, request_id: str) -> bool:
    return log.rowCount() > 0 and log.row(0).request_id == request_id
