"""Forks config savers for the crash test: `python -m tests.gateway.config_saver PATH`.

Each line on stdin forks a child that saves two configs in turn into PATH, forever; the child
prints `saving` once its first save is done, and the parent answers `pid N`. A line `reap N`
waits for child N and prints how it ended (`signal S` or `exit C`). Forking from one warm
process makes a round cost milliseconds instead of an interpreter start.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from gateway.config import BackendConfig, GatewayConfig, save_config

__all__ = ["CONFIGS", "main"]

# Two configs that differ from each other and from the defaults in what a loss would drop:
# backends, allowed hosts and model choices.
CONFIGS = (
    GatewayConfig(
        port=9101,
        big="model-a-big",
        small="model-a-small",
        allowed_hosts=["a.example"],
        backends=[BackendConfig(id="lms", url="http://127.0.0.1:1234/v1")],
    ),
    GatewayConfig(
        port=9102,
        big="model-b-big",
        small="model-b-small",
        allowed_hosts=["b.example"],
        backends=[
            BackendConfig(id="lms", url="http://127.0.0.1:1234/v1"),
            BackendConfig(id="ollama", url="http://127.0.0.1:11434", protocol="ollama"),
        ],
        aliases={"claude-x": "big"},
    ),
)


def _save_forever(path: Path) -> None:
    n = 1
    save_config(CONFIGS[n % 2], path)
    os.write(1, b"saving\n")
    while True:
        n += 1
        save_config(CONFIGS[n % 2], path)


def _say(line: str) -> None:
    # One write per line: the children write to the same pipe, and print() may send a line and
    # its newline in two writes (unbuffered under -u or PYTHONUNBUFFERED), which a child's
    # "saving" can land between.
    os.write(1, f"{line}\n".encode())


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    for line in sys.stdin:
        words = line.split()
        if words and words[0] == "reap":
            _, status = os.waitpid(int(words[1]), 0)
            if os.WIFSIGNALED(status):
                _say(f"signal {os.WTERMSIG(status)}")
            else:
                _say(f"exit {os.waitstatus_to_exitcode(status)}")
            continue
        pid = os.fork()
        if pid == 0:
            try:
                _save_forever(path)
            except BaseException:
                traceback.print_exc()
            os._exit(1)  # only a save that raised gets here
        _say(f"pid {pid}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
