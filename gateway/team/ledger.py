"""Usage kept by `lmgate serve` in the SQLite history beside the config (no bodies), written in
batches on a thread of its own so that no request waits on the disk. The file is opened at the
first write or read, so an idle gateway has not loaded SQLite."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.events import RequestRecord

if TYPE_CHECKING:
    from gateway.usage_store import UsageLine, UsageStore

__all__ = ["SqliteLedger"]

log = logging.getLogger("lmgate.team")


class SqliteLedger:
    def __init__(self, path: Path, *, every: float = 1.0) -> None:
        self.path = path
        self._store: UsageStore | None = None
        self.every = every
        self._pending: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lmgate-usage", daemon=True)
        self._thread.start()

    def add(self, record: RequestRecord) -> None:
        # A team's prompts are theirs: the headless history keeps the figures, never a body.
        if record.request_body is not None or record.response_body is not None:
            record = dataclasses.replace(record, request_body=None, response_body=None)
        with self._lock:
            self._pending.append(record)

    @property
    def store(self) -> UsageStore:
        if self._store is None:
            from gateway.usage_store import UsageStore

            self._store = UsageStore(self.path)
        return self._store

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            try:
                self.store.add(batch)
            except Exception as exc:  # a full disk must not stop the gateway
                log.warning("usage could not be written to %s: %s", self.path, exc)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.flush()

    async def usage_by(self, since: float, by: str) -> list[UsageLine]:
        await asyncio.to_thread(self.flush)
        return await asyncio.to_thread(self.store.usage_by, since, by)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.flush()
        if self._store is not None:
            self._store.close()
