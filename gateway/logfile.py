"""The headless log: one line per request in a user-only rotating file, never a body.

Prompts and answers are the user's code and data, so `request_body`, `response_body` and
`extra` never reach a log line; the GUI shows bodies from memory only.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import time
from collections.abc import Callable
from io import TextIOWrapper
from pathlib import Path

from gateway.atomicfile import make_private_dirs
from gateway.config import default_log_dir
from gateway.events import EventBus, RequestRecord

__all__ = ["LOG_FILE_NAME", "attach_log_file", "format_record"]

LOG_FILE_NAME = "lmgate.log"
MAX_BYTES = 1_000_000
BACKUP_COUNT = 5
_LOGGER = "lmgate"
# Line breaks (including the Unicode ones that splitlines honours) and other control
# characters in an error message would break the one-line-per-request promise.
_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Creates every file, the first and each one after a rollover, readable by the user only."""

    def _open(self) -> TextIOWrapper:
        # O_BINARY on Windows: the text layer above already turns \n into \r\n.
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
        fd = os.open(self.baseFilename, flags, 0o600)
        try:
            os.chmod(self.baseFilename, 0o600)  # an existing file keeps its old mode otherwise
            return open(fd, "a", encoding=self.encoding or "utf-8", errors=self.errors)
        except BaseException:
            os.close(fd)
            raise


class _LineFormatter(logging.Formatter):
    """Request lines arrive formatted; other `lmgate` log records get a time and a level."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "lmgate_request", False):
            return record.getMessage()
        return super().format(record)


def _clean(text: str) -> str:
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def format_record(record: RequestRecord) -> str:
    """One line: time, session, client model → backend/model (rule), timings, tokens, outcome."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.started_at))
    millis = int(record.started_at % 1 * 1000)
    parts = [f"{stamp}.{millis:03d}", record.method, record.path]
    if record.session:
        parts.append(f"session={record.session}")
    if record.client:
        parts.append(f"client={record.client}")  # the key's name (team mode), never the key
    if record.extra.get("refused"):
        parts.append("refused")
        parts += [
            f"{name}={record.extra[name]}" for name in ("origin", "host") if name in record.extra
        ]
    if record.client_model or record.backend_model:
        target = "/".join(x for x in (record.backend, record.backend_model) if x) or "?"
        route = f"{record.client_model or '?'} → {target}"
        if record.route_rule:
            route += f" ({record.route_rule})"
        parts.append(route)
    if record.route_reason:
        parts.append(f"route={record.route} ({record.route_reason})")
    if len(record.attempts) > 1:
        parts.append(
            "hops=[" + ", ".join(f"{a.backend} {a.outcome}" for a in record.attempts) + "]"
        )
    parts.append("stream" if record.stream else "sync")
    parts.append(str(record.status))
    parts.append(f"{record.latency_ms:.0f}ms")
    if record.ttft_ms is not None:
        parts.append(f"ttft={record.ttft_ms:.0f}ms")
    if record.load_ms is not None:
        parts.append(f"model loaded in {record.load_ms / 1000:.1f}s")
    if record.input_tokens is not None or record.output_tokens is not None:
        tokens = f"tokens={_count(record.input_tokens)}/{_count(record.output_tokens)}"
        if record.cached_tokens:
            tokens += f" cached={record.cached_tokens}"
        parts.append(tokens)
    if record.stop_reason:
        parts.append(f"stop={record.stop_reason}")
    if record.changes:
        parts.append("changes=[" + ", ".join(record.changes) + "]")
    if record.warnings:
        parts.append("warnings=[" + "; ".join(record.warnings) + "]")
    if record.error:
        parts.append(f"error={record.error}")
    return _clean(" ".join(parts))


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


def attach_log_file(
    bus: EventBus, directory: Path | None = None, *, level: int = logging.INFO
) -> Callable[[], None]:
    """Write every request record, and the `lmgate` logger at `level`, to `lmgate.log`
    (1 MB × 5) in `directory` or the platform's log dir. Returns the function that detaches it."""
    directory = directory or default_log_dir()
    make_private_dirs(directory)
    handler = _PrivateRotatingFileHandler(
        directory / LOG_FILE_NAME, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8"
    )
    handler.setFormatter(_LineFormatter())
    handler.setLevel(level)

    logger = logging.getLogger(_LOGGER)
    previous_level = logger.level
    lowered = logger.getEffectiveLevel() > level
    if lowered:
        logger.setLevel(level)
    logger.addHandler(handler)

    def write(record: RequestRecord) -> None:
        line = logging.makeLogRecord(
            {
                "name": f"{_LOGGER}.requests",
                "levelno": logging.INFO,
                "levelname": "INFO",
                "msg": format_record(record),
                "lmgate_request": True,
            }
        )
        # Straight to the file, whatever the level: the request log is what the file is for,
        # and the line must not reach a console handler through propagation.
        handler.handle(line)

    unsubscribe = bus.subscribe(write)
    detached = False

    def detach() -> None:
        nonlocal detached
        if detached:
            return
        detached = True
        unsubscribe()
        logger.removeHandler(handler)
        if lowered and logger.level == level:
            logger.setLevel(previous_level)
        handler.close()

    return detach
