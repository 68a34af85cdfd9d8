"""How a benchmark child knows to stop: SIGTERM, or its parent gone (stdin closes when the parent
exits, even when it is killed), so no child outlives a crashed run."""

from __future__ import annotations

import signal
import sys
import threading

__all__ = ["stop_event"]


def stop_event() -> threading.Event:
    stopped = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        # Not stopped.set() here: the handler runs on the main thread between two bytecodes,
        # possibly inside stopped.wait() holding the event's lock, and set() would wait for
        # that lock forever (seen: a gateway that ignored SIGTERM). A thread takes it in turn.
        threading.Thread(target=stopped.set, name="bench-sigterm", daemon=True).start()

    def watch_stdin() -> None:
        sys.stdin.buffer.read()
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    threading.Thread(target=watch_stdin, name="bench-lifeline", daemon=True).start()
    return stopped
