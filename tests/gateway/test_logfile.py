from __future__ import annotations

import logging
import os
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import logfile
from gateway.events import EventBus, RequestRecord
from gateway.logfile import LOG_FILE_NAME, attach_log_file, format_record

MARKER = "TOP-SECRET-PROMPT-MARKER"
STARTED = 1_790_000_000.25


def stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) + ".250"


def full_record(**overrides: object) -> RequestRecord:
    fields: dict[str, object] = {
        "request_id": "req_1",
        "started_at": STARTED,
        "method": "POST",
        "path": "/v1/messages",
        "session": "5f0c2a",
        "client_model": "claude-sonnet-4-5",
        "backend": "lmstudio",
        "backend_model": "qwen3-coder-30b",
        "route_rule": "big",
        "stream": True,
        "status": 200,
        "latency_ms": 1234.4,
        "ttft_ms": 210.6,
        "input_tokens": 1200,
        "output_tokens": 350,
        "cached_tokens": 1000,
        "stop_reason": "tool_use",
        "changes": ("dropped thinking", "tool_choice any→required"),
        "warnings": ("max_tokens capped",),
        "error": None,
        "request_body": {"messages": [{"role": "user", "content": MARKER}]},
        "response_body": f"data: {MARKER}",
        "extra": {"note": MARKER},
    }
    fields.update(overrides)
    return RequestRecord(**fields)  # type: ignore[arg-type]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def lmgate_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("lmgate")
    level, handlers = logger.level, list(logger.handlers)
    yield logger
    logger.setLevel(level)
    logger.handlers[:] = handlers


def test_format_record_full() -> None:
    assert format_record(full_record()) == (
        f"{stamp(STARTED)} POST /v1/messages session=5f0c2a "
        "claude-sonnet-4-5 → lmstudio/qwen3-coder-30b (big) stream 200 1234ms ttft=211ms "
        "tokens=1200/350 cached=1000 stop=tool_use "
        "changes=[dropped thinking, tool_choice any→required] warnings=[max_tokens capped]"
    )


def test_format_record_minimal_failure() -> None:
    record = RequestRecord(
        request_id="r",
        started_at=STARTED,
        method="POST",
        path="/v1/messages/count_tokens",
        status=400,
        latency_ms=2.0,
        error="messages.0.content: Field required",
    )
    assert format_record(record) == (
        f"{stamp(STARTED)} POST /v1/messages/count_tokens sync 400 2ms "
        "error=messages.0.content: Field required"
    )


def test_format_record_of_a_refusal_names_where_it_came_from() -> None:
    record = RequestRecord(
        request_id="r",
        started_at=STARTED,
        method="POST",
        path="/v1/messages",
        status=403,
        request_class="refused",
        error="requests from web pages (with an Origin header) are refused",
        extra={"refused": True, "origin": "https://evil.example\r\nX: y", "host": "127.0.0.1"},
    )
    assert format_record(record) == (
        f"{stamp(STARTED)} POST /v1/messages refused origin=https://evil.example\\r\\nX: y "
        "host=127.0.0.1 sync 403 0ms error=requests from web pages (with an Origin header) are "
        "refused"
    )


def test_format_record_names_the_client_key_by_its_name() -> None:
    record = RequestRecord(
        request_id="r",
        started_at=STARTED,
        method="POST",
        path="/v1/messages",
        client="alice",
        status=429,
        request_class="refused",
        error="client 'alice' has sent more than 2 requests this minute",
        extra={"refused": True, "limit": "requests"},
    )
    assert format_record(record) == (
        f"{stamp(STARTED)} POST /v1/messages client=alice refused sync 429 0ms "
        "error=client 'alice' has sent more than 2 requests this minute"
    )


def test_format_record_is_one_line_whatever_the_error_says() -> None:
    record = full_record(error="backend said:\nTraceback\r\n  boom\u2028more\x1b[31m")
    line = format_record(record)
    assert line.splitlines() == [line]
    assert line.endswith("error=backend said:\\nTraceback\\r\\n  boom\\u2028more\\x1b[31m")


def test_format_record_never_shows_bodies() -> None:
    assert MARKER not in format_record(full_record())


def test_attach_creates_private_dirs_and_file(
    tmp_path: Path, lmgate_logger: logging.Logger
) -> None:
    directory = tmp_path / "state" / "lmgate" / "log"
    old_umask = os.umask(0o022)
    try:
        detach = attach_log_file(EventBus(), directory)
    finally:
        os.umask(old_umask)
    try:
        assert mode(tmp_path / "state") == 0o700
        assert mode(tmp_path / "state" / "lmgate") == 0o700
        assert mode(directory) == 0o700
        assert mode(directory / LOG_FILE_NAME) == 0o600
    finally:
        detach()


def test_an_existing_loose_file_is_tightened(tmp_path: Path, lmgate_logger: logging.Logger) -> None:
    path = tmp_path / LOG_FILE_NAME
    path.write_text("old line\n")
    path.chmod(0o644)
    detach = attach_log_file(EventBus(), tmp_path)
    detach()
    assert mode(path) == 0o600
    assert path.read_text().startswith("old line\n")


def test_one_line_per_record_and_no_bodies(tmp_path: Path, lmgate_logger: logging.Logger) -> None:
    bus = EventBus()
    detach = attach_log_file(bus, tmp_path)
    try:
        first = full_record()
        second = full_record(status=502, error=f"upstream failed\n{MARKER[:3]}", stream=False)
        bus.publish(first)
        bus.publish(second)
    finally:
        detach()
    text = (tmp_path / LOG_FILE_NAME).read_text(encoding="utf-8")
    assert text.splitlines() == [format_record(first), format_record(second)]
    assert MARKER not in text


def test_the_lmgate_logger_goes_to_the_file(tmp_path: Path, lmgate_logger: logging.Logger) -> None:
    lmgate_logger.setLevel(logging.NOTSET)
    detach = attach_log_file(EventBus(), tmp_path)
    try:
        logging.getLogger("lmgate.config").warning("config problem %s", "here")
        logging.getLogger("lmgate.upstream").info("connected")
        logging.getLogger("lmgate.upstream").debug("chatty detail")
        logging.getLogger("other").warning("not ours")
    finally:
        detach()
    lines = (tmp_path / LOG_FILE_NAME).read_text(encoding="utf-8").splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "WARNING lmgate.config: config problem here",
        "INFO lmgate.upstream: connected",
    ]


def test_detach_stops_everything_and_restores_the_level(
    tmp_path: Path, lmgate_logger: logging.Logger
) -> None:
    lmgate_logger.setLevel(logging.WARNING)
    handlers = list(lmgate_logger.handlers)
    bus = EventBus()
    detach = attach_log_file(bus, tmp_path)
    assert lmgate_logger.level == logging.INFO
    detach()
    detach()  # twice is harmless
    assert lmgate_logger.level == logging.WARNING
    assert lmgate_logger.handlers == handlers
    bus.publish(full_record())
    logging.getLogger("lmgate.x").warning("after detach")
    assert (tmp_path / LOG_FILE_NAME).read_text() == ""


def test_request_lines_do_not_propagate_to_other_handlers(
    tmp_path: Path, lmgate_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bus = EventBus()
    detach = attach_log_file(bus, tmp_path)
    try:
        bus.publish(full_record())
    finally:
        detach()
    assert caplog.records == []


def test_rollover_keeps_files_private(
    tmp_path: Path, lmgate_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logfile, "MAX_BYTES", 600)
    bus = EventBus()
    detach = attach_log_file(bus, tmp_path)
    try:
        for n in range(40):
            bus.publish(full_record(request_id=f"r{n}"))
    finally:
        detach()
    files = sorted(tmp_path.iterdir())
    names = [path.name for path in files]
    assert names == [LOG_FILE_NAME, *(f"{LOG_FILE_NAME}.{n}" for n in range(1, 6))]
    for path in files:
        assert path.stat().st_size <= 600
        if sys.platform != "win32":
            assert mode(path) == 0o600, path.name
