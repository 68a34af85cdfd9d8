"""Child processes of the benchmark: which core each gets, starting them, reading their CPU time
and memory, and stopping them."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = [
    "Child",
    "Cores",
    "bench_env",
    "fd_count",
    "pinned",
    "plan_cores",
    "rss_bytes",
    "spawn",
    "thread_count",
]


@dataclass(frozen=True)
class Cores:
    gateway: frozenset[int]
    fake: frozenset[int]
    client: frozenset[int]

    def describe(self) -> str:
        def name(cores: frozenset[int]) -> str:
            return ",".join(str(c) for c in sorted(cores))

        text = f"gateway on core {name(self.gateway)}, fake backend on core {name(self.fake)}, "
        text += f"load generator on core {name(self.client)}"
        if self.client & (self.fake | self.gateway):
            text += " (shared: only 2 cores, so the client and the fake contend)"
        return text


def plan_cores() -> Cores:
    """The gateway alone on one core, the fake on another, the client on what is left (with
    the fake when only two cores exist: the gateway's core is the one that must stay quiet)."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) == 1:
        one = frozenset(cores)
        return Cores(one, one, one)
    gateway, fake = frozenset(cores[:1]), frozenset(cores[1:2])
    rest = frozenset(cores[2:]) or fake
    return Cores(gateway, fake, rest)


def bench_env(home: Path) -> dict[str, str]:
    """The children's environment: their own XDG dirs (the gateway's log file lands there), the
    null keyring (never the user's), and no gateway token."""
    env = dict(os.environ)
    for variable in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        path = home / variable.lower()
        path.mkdir(exist_ok=True)
        env[variable] = str(path)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    env.pop("LMGATE_TOKEN", None)
    return env


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    raise ProcessLookupError(f"no {field} for process {pid}")


def rss_bytes(pid: int) -> int:
    """Resident memory, as `ps` and `top` show it."""
    return _status(pid, "VmRSS:") * 1024


def thread_count(pid: int) -> int:
    return _status(pid, "Threads:")


def fd_count(pid: int) -> int:
    """Open file descriptors: sockets (client and upstream connections), pipes, files."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def pinned(cores: frozenset[int]) -> Callable[[], None]:
    def pin() -> None:
        os.sched_setaffinity(0, cores)

    return pin


class Child:
    """A running child that printed its port; `with` stops it."""

    def __init__(self, name: str, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.name = name
        self.proc = proc
        self.port = port
        self.log = log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """CPU time of every live thread so far, to the nanosecond (the scheduler's own count in
        /proc/PID/task/*/schedstat), where user + system time ticks in 10 ms steps."""
        total = 0
        try:
            for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
                try:
                    total += int((task / "schedstat").read_text().split()[0])
                except (FileNotFoundError, ProcessLookupError):
                    continue  # a thread that just ended
        except FileNotFoundError:
            raise ProcessLookupError(f"{self.name} is not running") from None
        return total / 1e9

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()

    def __enter__(self) -> Child:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def spawn(
    name: str,
    args: Sequence[str],
    *,
    cores: frozenset[int],
    env: dict[str, str],
    logs: Path,
    timeout: float = 60.0,
) -> Child:
    """`python -m ARGS…` pinned to `cores`; waits for the port it prints on its first line.
    Its stderr goes to `logs/NAME.log`."""
    log = logs / f"{name}.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            preexec_fn=pinned(cores),
        )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        readable, _, _ = select.select([proc.stdout], [], [], max(0.0, left))
        if not readable:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"{name} did not start within {timeout:g} s; see {log}")
        byte = os.read(proc.stdout.fileno(), 1)
        if not byte:
            proc.wait()
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} exited with {proc.returncode} before listening:\n{tail}")
        line += byte
    return Child(name, proc, int(line), log)
