"""Cold start of the headless gateway (exec → first 200 from /health), its idle memory, and its
memory once a count_tokens call has loaded the BPE tables."""

from __future__ import annotations

import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson

from tests.bench.fake import MODEL
from tests.bench.processes import pinned, rss_bytes
from tests.bench.workloads import fixture_request
from tests.fakes import free_port

__all__ = ["health_ok", "measure_cold_start", "stop_process"]

_HEALTH = b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
COUNT_TOKENS = "claude-code-2.1.197-count-tokens"


def health_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(_HEALTH)
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _count_tokens(port: int) -> None:
    """Claude Code's recorded count_tokens call; the gateway counts it with its BPE tables."""
    body, path, headers = fixture_request(COUNT_TOKENS)
    raw = orjson.dumps(body)
    lines = [f"POST {path} HTTP/1.1", f"host: 127.0.0.1:{port}", "connection: close"]
    lines += [f"content-length: {len(raw)}", "content-type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-type"]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    if not answer.startswith(b"HTTP/1.1 200") or b'"input_tokens"' not in answer:
        raise RuntimeError(f"count_tokens answered {answer[:400]!r}")


def stop_process(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then SIGKILL after 10 s; the exit code (negative: killed by that signal)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def _one(
    command: list[str], port: int, cores: frozenset[int], env: dict[str, str], idle: float | None
) -> dict[str, float]:
    """One start: the seconds to the first 200; with `idle`, the RSS after that many seconds
    idle and after one count_tokens call; whether it had to be killed after SIGTERM."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=pinned(cores),
    )
    found: dict[str, float] = {}
    stopped = False
    try:
        deadline = started + 30
        # A refused connection costs microseconds: polling every millisecond keeps the error of
        # the figure under 1 ms without loading the gateway's core (the poller runs elsewhere).
        while not health_ok(port):
            if proc.poll() is not None:
                assert proc.stderr is not None
                error = proc.stderr.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"{' '.join(command)} exited with {proc.returncode}:\n{error}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{' '.join(command)} did not answer /health within 30 s")
            time.sleep(0.001)
        found["start_s"] = time.perf_counter() - started
        if idle is not None:
            time.sleep(idle)
            found["idle_rss_mb"] = rss_bytes(proc.pid) / 1e6
            _count_tokens(port)
            found["tokens_rss_mb"] = rss_bytes(proc.pid) / 1e6
        found["stuck"] = float(stop_process(proc) == -signal.SIGKILL)
        stopped = True
    finally:
        if not stopped:
            stop_process(proc)
        if proc.stderr is not None:
            proc.stderr.close()
    return found


def measure_cold_start(
    backend_url: str, *, runs: int, idle: float, cores: frozenset[int], env: dict[str, str]
) -> dict[str, float]:
    """`python -m gateway serve` and the `lmgate` script: median start time over `runs`; in the
    last run, the RSS in MB (10^6 bytes) after `idle` seconds idle and after one count_tokens;
    how many runs ignored SIGTERM for 10 s."""
    commands = {"python_m_gateway": [sys.executable, "-m", "gateway"]}
    script = Path(sys.executable).with_name("lmgate")
    if script.exists():
        commands["lmgate_script"] = [str(script)]
    figures: dict[str, float] = {}
    for name, prefix in commands.items():
        times: list[float] = []
        figures[f"{name}.sigterm_stuck"] = 0.0
        for run in range(runs):
            port = free_port()
            command = [*prefix, "serve", "--port", str(port), "--backend", backend_url]
            last = run == runs - 1
            found = _one([*command, "--big", MODEL], port, cores, env, idle if last else None)
            times.append(found.pop("start_s"))
            figures[f"{name}.sigterm_stuck"] += found.pop("stuck")
            figures |= {f"{name}.{k}": v for k, v in found.items()}
        figures[f"{name}.start_s"] = statistics.median(times)
        figures[f"{name}.start_min_s"] = min(times)
    return figures
