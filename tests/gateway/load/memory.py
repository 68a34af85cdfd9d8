"""What the test process holds: resident memory (now and the peak while a block runs), open file
descriptors and threads; the gateway and the fakes run in-process, so this is theirs too."""

from __future__ import annotations

import gc
import threading
from types import TracebackType

import psutil

__all__ = ["MB", "PeakRSS", "Resources", "rss"]

MB = 1024 * 1024


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


class PeakRSS:
    """`with PeakRSS() as peak: …` then `peak.growth`: the highest RSS seen above the start."""

    def __init__(self, every: float = 0.005) -> None:
        self.every = every
        self.start = 0
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = rss()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.start

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._done.wait(self.every):
            self.peak = max(self.peak, int(process.memory_info().rss))


class Resources:
    """Open file descriptors and live threads at one moment."""

    def __init__(self) -> None:
        process = psutil.Process()
        self.fds = process.num_fds()
        self.threads = threading.active_count()
        self.thread_names = sorted(t.name for t in threading.enumerate())

    def __repr__(self) -> str:
        return f"Resources(fds={self.fds}, threads={self.threads}: {self.thread_names})"
