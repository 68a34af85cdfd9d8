"""Cold start of the headless gateway (exec → first 200 from /health) and its idle memory."""

from __future__ import annotations

import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.bench.fake import MODEL
from tests.bench.processes import pinned, rss_bytes
from tests.fakes import free_port

__all__ = ["measure_cold_start"]

_HEALTH = b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"


def _health_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(_HEALTH)
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _one(
    command: list[str], port: int, cores: frozenset[int], env: dict[str, str], idle: float
) -> tuple[float, int]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=pinned(cores),
    )
    try:
        deadline = started + 30
        # A refused connection costs microseconds: polling every millisecond keeps the error of
        # the figure under 1 ms without loading the gateway's core (the poller runs elsewhere).
        while not _health_ok(port):
            if proc.poll() is not None:
                assert proc.stderr is not None
                error = proc.stderr.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"{' '.join(command)} exited with {proc.returncode}:\n{error}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{' '.join(command)} did not answer /health within 30 s")
            time.sleep(0.001)
        elapsed = time.perf_counter() - started
        time.sleep(idle)
        rss = rss_bytes(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    return elapsed, rss


def measure_cold_start(
    backend_url: str, *, runs: int, idle: float, cores: frozenset[int], env: dict[str, str]
) -> dict[str, float]:
    """`python -m gateway serve` and the `lmgate` script: median start time, idle RSS in MB
    (10^6 bytes) after `idle` seconds."""
    commands = {"python_m_gateway": [sys.executable, "-m", "gateway"]}
    script = Path(sys.executable).with_name("lmgate")
    if script.exists():
        commands["lmgate_script"] = [str(script)]
    figures: dict[str, float] = {}
    for name, prefix in commands.items():
        times, sizes = [], []
        for _ in range(runs):
            port = free_port()
            command = [*prefix, "serve", "--port", str(port), "--backend", backend_url]
            seconds, rss = _one([*command, "--big", MODEL], port, cores, env, idle)
            times.append(seconds)
            sizes.append(rss)
        figures[f"{name}.start_s"] = statistics.median(times)
        figures[f"{name}.start_min_s"] = min(times)
        figures[f"{name}.idle_rss_mb"] = statistics.median(sizes) / 1e6
    return figures
