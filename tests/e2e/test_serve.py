"""`lmgate serve` as a user runs it: a real process that prints its URL and the export line,
answers, logs one line per request, and stops cleanly on SIGTERM and Ctrl-C."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from gateway.config import default_log_dir
from gateway.logfile import LOG_FILE_NAME
from tests.fakes.server import FakeBackend

Start = Callable[..., FakeBackend]


def lmgate() -> str:
    script = Path(sys.executable).with_name("lmgate")
    assert script.exists(), f"the lmgate entry point is not installed next to {sys.executable}"
    return str(script)


class Lines:
    """The process's stdout, read by a thread (select() cannot see Python's read buffer)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.thread = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        self.thread.start()

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.queue.put(line.rstrip("\n"))
        self.queue.put(None)

    def until(self, pattern: str, timeout: float = 20) -> list[str]:
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            lines.append(line)
            if re.search(pattern, line):
                return lines
        raise AssertionError(f"no line matching {pattern!r} in {lines}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_url_and_export_line_and_stops_cleanly(
    sig: signal.Signals, fake_backend: Start, tmp_path: Path
) -> None:
    fake = fake_backend("lmstudio")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SHELL": "/bin/bash", "LMGATE_TOKEN": ""}
    env.pop("LMGATE_TOKEN")
    with subprocess.Popen(
        [lmgate(), "serve", "--port", "0", "--backend", fake.root_url, "--big", "fake-model"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            _drive(proc, sig)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _drive(proc: subprocess.Popen[str], sig: signal.Signals) -> None:
    out = Lines(proc)
    lines = out.until(r"export ANTHROPIC_BASE_URL=")
    url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", "\n".join(lines))
    assert url, lines
    base = url.group(1)
    lines += out.until(r"CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY")
    exports = "\n".join(lines)
    assert f"export ANTHROPIC_BASE_URL={base}" in exports or (
        f"export ANTHROPIC_BASE_URL='{base}'" in exports
    )
    assert "ANTHROPIC_AUTH_TOKEN" in exports
    response = httpx.post(
        f"{base}/v1/messages",
        json={
            "model": "claude-sonnet-4-6",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert response.status_code == 200
    logged = out.until(r"claude-sonnet-4-6")
    assert "fake-model" in logged[-1] and "200" in logged[-1]
    proc.send_signal(sig)
    assert proc.wait(timeout=10) == 0
    out.thread.join(5)
    assert proc.stderr is not None
    assert "Traceback" not in proc.stderr.read()


def test_serve_on_a_lost_config_uses_the_backup_and_says_so_on_stderr_and_in_the_log(
    fake_backend: Start, tmp_path: Path
) -> None:
    fake = fake_backend("lmstudio")
    config = tmp_path / "config.toml"
    backup = tmp_path / "config.toml.bak"
    backup.write_text(f'port = 0\nbig = "fake-model"\n[[backends]]\nurl = "{fake.root_url}"\n')
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SHELL": "/bin/bash"}
    env.pop("LMGATE_TOKEN", None)
    with subprocess.Popen(
        [lmgate(), "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            Lines(proc).until(r"export ANTHROPIC_BASE_URL=")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.stderr is not None
        err = proc.stderr.read()
    assert f"lmgate: warning: the config file {config} is missing" in err
    assert "config.toml.bak" in err and "not defaults" in err
    logged = (default_log_dir() / LOG_FILE_NAME).read_text(encoding="utf-8")
    assert "WARNING lmgate.config: the config file" in logged and "config.toml.bak" in logged
